/**
 * Virtual appliance networks on a host: addressing (pure) and the plumber the host agent calls.
 * See docs/networking.md.
 */
export { allocateAddress, usableAddresses } from "./address-allocator.js";
export type {
  HostNetworkState,
  InspectedBridge,
  InspectedTap,
  InspectedVeth,
  InspectedVxlan,
} from "./host-inspect.js";
export {
  type HostNaming,
  type NetworkRef,
  namespaceName,
  PRODUCTION_NAMING,
  tapName,
} from "./host-names.js";
export { DEFAULT_VAN_MTU, HostNetwork, type HostNetworkOptions } from "./host-network.js";
export type { AttachedInterface, InterfaceSpec } from "./interfaces.js";
export { formatIpv4, formatIpv4Block, type Ipv4Block, netmaskOf, parseIpv4, parseIpv4Block } from "./ipv4.js";
export { checkMac, macForAddress, macForDottedAddress } from "./mac.js";
export { namespacePath } from "./namespaces.js";
export { type ExpectedNetwork, type NetworkPlumber, NOTHING_EXPECTED, type SweepReport } from "./plumber.js";
export { type NetworkFeature, probeNetworkSupport } from "./probe.js";
export {
  allocatePublicAddress,
  DEFAULT_PUBLIC_POOL,
  DEFAULT_PUBLIC_POOL_CIDR,
  type PublicPool,
  parsePublicPool,
} from "./public-pool.js";
export type { TapSpec } from "./taps.js";
export {
  checkVni,
  checkVniPoolAvoids,
  DEFAULT_VNI_POOL,
  nextFreeVni,
  parseVniPool,
  VAN_PREFIX_LENGTH,
  type VniPool,
  vanAddress,
  vanSubnet,
} from "./van-subnet.js";
export { VXLAN_PORT } from "./vxlan.js";

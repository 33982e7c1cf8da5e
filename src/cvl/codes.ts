/**
 * Every CVL diagnostic code, with a one-line meaning. docs/cvl.md explains each with an example; the
 * golden tests in testdata/diagnostics/ cover each. Ranges:
 *   CVL10xx  reading and scanning a file
 *   CVL11xx  syntax
 *   CVL12xx  names, scopes and the rules of the object model
 *   CVL13xx  imports
 *   CVL14xx  values, references, parameters and dependencies
 */
export const codes = {
  // 10xx: reading and scanning
  CVL1001: "the file cannot be read",
  CVL1002: "the file is not valid UTF-8",
  CVL1003: "the file is larger than the size limit",
  CVL1004: "a string is not terminated before the end of the line",
  CVL1005: "a block comment is not terminated",
  CVL1006: "a character that cannot start any token",
  CVL1007: "an identifier is longer than the limit",
  CVL1008: "a string is longer than the limit",
  CVL1009: "an unknown escape sequence in a string",
  CVL1010: "the file contains a NUL or other control character",
  // 11xx: syntax
  CVL1101: "a token was expected here",
  CVL1102: "a statement cannot start with this token",
  CVL1103: "maps nest deeper than the limit",
  CVL1104: "a map has no pairs",
  CVL1105: "an unknown attribute in a var declaration",
  CVL1106: "an object body member cannot start with this token",
  // 12xx: names and rules
  CVL1201: "extends names an object that does not exist",
  CVL1202: "a component's type names an object that does not exist",
  CVL1203: "two objects, imports or prelude objects share a name",
  CVL1204: "a parameter is declared twice in one object chain",
  CVL1205: "a component name is declared twice, or clashes with a parameter",
  CVL1206: "an assignment to a parameter that is not declared",
  CVL1207: "a reference to a parameter that is not declared",
  CVL1208: "a dotted path names a component that does not exist",
  CVL1209: "objects extend each other in a cycle",
  CVL1210: "an Interface outside a machine appliance (VM or container)",
  CVL1211: "a machine appliance or VAN outside a VAN",
  CVL1212: "an object that is neither an Interface nor an Appliance",
  CVL1213: "a VAN contains itself",
  CVL1214: "an unsupported CVL language version",
  CVL1215: 'a top-level assignment other than CVL = "..."',
  CVL1216: "the file defines no appliance to run, or several (use --object)",
  CVL1217: "--object names an object the file does not define",
  CVL1218: "the instance tree is larger than the limit",
  CVL1219: 'the attribute "assigned" outside the prelude',
  CVL1220: "an assignment to a component or interface as if it were a parameter",
  // 13xx: imports
  CVL1301: "an import does not resolve",
  CVL1302: "imports form a cycle",
  CVL1303: "the imported file does not define the named object, or defines several",
  CVL1304: "an import map lacks url (or it is empty), or has a key that is not understood",
  CVL1305: "an import map value is not a single string",
  CVL1306: "the imported file has errors",
  CVL1307: "the import pins a version its publisher has withdrawn (a warning)",
  // 14xx: values, parameters, dependencies
  CVL1401: "references form a cycle",
  CVL1402: "a required parameter has no value",
  CVL1403: "a sensitive value flows into a parameter that is not sensitive",
  CVL1404: "start dependencies form a cycle",
  CVL1405: "a required service is provided by no component",
  CVL1406: "vanIF does not name an interface of a component",
  CVL1407: "a sensitive parameter is given a literal value in the file",
} as const;

export type DiagnosticCode = keyof typeof codes;

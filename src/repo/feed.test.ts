import { describe, expect, it } from "vitest";
import { type FeedItem, generateFeed, parseFeed } from "./feed.js";

const item = (version: number, extra: Partial<FeedItem> = {}): FeedItem => ({
  name: 'dns <&> "quoted"',
  version,
  kind: "container",
  repository: "https://example.org/dns",
  repositoryId: "0b0f6a0e-5d7c-4c1e-9d61-3f0c2a1d8e77",
  date: new Date(Date.UTC(2026, 10, version, 12)).toISOString(),
  signer: "ed25519:Kq3nJ9mM0Q2m7c1cX0yq2Yq8C6sVh0r4t2m1o9b3x8A=",
  size: 1000 * version,
  newBytes: 10 * version,
  ...extra,
});

describe("RSS feeds", () => {
  it("round-trips items, newest first, escaping XML", () => {
    const xml = generateFeed({ title: "t & t", link: ".", repository: "." }, [
      item(1),
      item(3, { withdrawn: true }),
      item(2),
    ]);
    expect(xml).toContain("<title>dns &lt;&amp;&gt; &quot;quoted&quot; 3</title>");
    const { channel, items } = parseFeed(xml, "feed.xml");
    expect(channel.title).toBe("t & t");
    expect(items).toEqual([item(3, { withdrawn: true }), item(2), item(1)]);
  });

  it.each<[string, FeedItem[], number[]]>([
    [
      "by date, across months and years",
      [item(1), item(2, { date: "2027-01-01T00:00:00.000Z" }), item(3)],
      [2, 3, 1],
    ],
    [
      "by version when published in the same millisecond",
      [item(4, { date: "2026-11-05T12:00:00.000Z" }), item(7, { date: "2026-11-05T12:00:00.000Z" })],
      [7, 4],
    ],
    ["an item without a date last (an unreadable pubDate)", [item(1, { date: "" }), item(2)], [2, 1]],
  ])("orders items newest first: %s", (_, items, versions) => {
    const xml = generateFeed({ title: "t", link: ".", repository: "." }, items);
    expect(parseFeed(xml, "feed.xml").items.map((entry) => entry.version)).toEqual(versions);
  });

  it("refuses a document that is not RSS", () => {
    expect(() => parseFeed("<html></html>", "x.html")).toThrow(/x\.html is not an RSS 2\.0 feed/);
  });
});

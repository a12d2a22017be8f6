/** The EC2 metadata hierarchy as data: directories list their entries, leaves hold text. */
export type Tree = Dir | Leaf;
export interface Leaf {
  kind: "leaf";
  value: string;
}
export interface Dir {
  kind: "dir";
  entries: Map<string, Tree>;
  /** Replaces the generated listing (public-keys lists `0=name`, not `0/`). */
  listing?: string;
}

export const leaf = (value: string): Leaf => ({ kind: "leaf", value });

/** A leaf computed at its first request (signatures: RSA costs ~1 ms, most guests never ask). */
export function lazyLeaf(compute: () => string): Leaf {
  let value: string | undefined;
  return {
    kind: "leaf",
    get value() {
      value ??= compute();
      return value;
    },
  };
}

export function dir(entries: Record<string, Tree | undefined>, listing?: string): Dir {
  const map = new Map<string, Tree>();
  for (const [k, v] of Object.entries(entries)) if (v) map.set(k, v);
  return listing === undefined
    ? { kind: "dir", entries: map }
    : { kind: "dir", entries: map, listing };
}

/**
 * Directories and leaves answer with and without the trailing slash: AWS's own tools ask for
 * `placement/availability-zone/` (botocore's region lookup) and `instance-identity//document/`
 * (boto), and AWS answers both. Leaves are never newline-terminated: cloud-init would split a
 * value ending in "\n" into a list.
 */
export function resolve(tree: Tree, segments: string[]): string | undefined {
  let node: Tree | undefined = tree;
  for (const seg of segments) {
    if (node.kind !== "dir") return undefined;
    node = node.entries.get(seg);
    if (!node) return undefined;
  }
  if (node.kind === "leaf") return node.value;
  return listingOf(node);
}

export function listingOf(d: Dir): string {
  if (d.listing !== undefined) return d.listing;
  return [...d.entries].map(([name, t]) => (t.kind === "dir" ? `${name}/` : name)).join("\n");
}

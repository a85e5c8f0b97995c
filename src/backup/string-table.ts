// The string table of a backup's content: each distinct string its log (and
// its view) mentions by reference, stored once, in order of first use. Coin
// public keys are the reason: 32 random bytes each, which no compressor can
// shrink, so a coin's key is written once however often events name it.

export interface StringTable {
  /** The index of `s`, added at the end when new. */
  intern(s: string): number;
  /** The table, in index order. */
  readonly list: string[];
  /** The index of `s` if it is in the table. */
  indexOf(s: string): number | undefined;
}

export function createStringTable(): StringTable {
  const list: string[] = [];
  const index = new Map<string, number>();
  return {
    list,
    intern(s) {
      let i = index.get(s);
      if (i === undefined) {
        i = list.length;
        list.push(s);
        index.set(s, i);
      }
      return i;
    },
    indexOf: (s) => index.get(s),
  };
}

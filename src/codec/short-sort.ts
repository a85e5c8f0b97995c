// Sorting the short arrays of the hot paths (an object's keys, a coin's
// spends). V8's Array.prototype.sort is TimSort, which allocates its work
// state on every call, even for three elements: at 100k appended events that
// was 170 MB of the 950 MB allocated (bench/allocations.ts). Insertion sort in
// place allocates nothing and is the faster sort at these lengths.

// Past this length insertion sort's quadratic cost outweighs TimSort's allocation.
const SHORT = 32;

/** Sorts `a` in place by `less`, stably: by insertion when it is short, else by the built-in sort. */
export function sortShort<T>(a: T[], less: (x: T, y: T) => boolean): T[] {
  if (a.length > SHORT) return a.sort((x, y) => (less(x, y) ? -1 : less(y, x) ? 1 : 0));
  for (let i = 1; i < a.length; i++) {
    const x = a[i];
    let j = i - 1;
    while (j >= 0 && less(x, a[j])) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = x;
  }
  return a;
}

/** Code-unit order, the order of canonical JSON's keys (and of `Array.prototype.sort()` on strings). */
export const codeUnitLess = (x: string, y: string): boolean => x < y;

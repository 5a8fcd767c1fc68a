/**
 * Drops the oldest keys of an insertion-ordered Map or Set beyond
 * `capacity`: 1% of the capacity at a time, since finding the oldest key
 * walks over the collection's deleted slots.
 */
export function trimOldest(collection: { size: number; keys(): IterableIterator<unknown>; delete(key: never): boolean }, capacity: number): void {
  if (collection.size <= capacity) return;
  let excess = collection.size - capacity + Math.floor(capacity / 100);
  for (const key of collection.keys()) {
    if (excess-- <= 0) break;
    collection.delete(key as never);
  }
}

/** An option that must be a whole number of at least 1 (`fallback` when absent); `owner` names the class in the error. */
export function wholeAtLeastOne(owner: string, name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${owner}: ${name} must be a whole number of at least 1, got ${value}.`);
  return value;
}

/** Appends to a bounded history buffer, dropping the oldest entry beyond `size`. */
export function push<T>(ring: T[], item: T, size: number): void {
  ring.push(item);
  if (ring.length > size) ring.shift();
}

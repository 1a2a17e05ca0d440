/**
 * Iterates `source`, giving the event loop a turn (`setImmediate`) whenever `sliceMs` of
 * uninterrupted work has passed. An async loop whose awaits all resolve at once (SQLite pages,
 * a socket that never pushes back) otherwise runs only microtasks and starves every other
 * request, health probes included, until it ends.
 */
export async function* inSlices<T>(
  source: Iterable<T> | AsyncIterable<T>,
  sliceMs = 10,
): AsyncGenerator<T> {
  let sliceStart = performance.now();
  for await (const item of source) {
    yield item;
    if (performance.now() - sliceStart >= sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
}

// The route's own work: build and serialise a 100-item product list (no I/O), so the comparison
// shows what a HIT saves over in-process work, not over a slow database.
export function catalogue() {
  return Array.from({ length: 100 }, (_, i) => ({
    id: i,
    sku: `GL-${String(i).padStart(5, '0')}`,
    name: `Glass item ${i}`,
    price: Math.round((i * 1.37 + 3) * 100) / 100,
    tags: ['lab', i % 2 ? 'borosilicate' : 'soda-lime'],
  }));
}

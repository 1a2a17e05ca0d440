// The CSV line every upload bench uses (ASCII with some multi-byte UTF-8), so run.mjs and
// parsers.mjs measure the same content.
export const csvLine = (i) => `${i},glass-${i % 977},soda-lime,${(i * 0.37).toFixed(2)},Zürich ✓\n`;

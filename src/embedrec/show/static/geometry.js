// The map's geometry as pure functions of coordinates: the frame that fits the points, where a label
// fits, which point the pointer is on, and which point an arrow key leads to.

/** [x0, x1, y0, y1] of the points without the outermost `p` on each side, so a few outliers cannot
 * shrink everything else to a dot. */
export function bulkBox(xs, ys, p = 0.005) {
  const range = (values) => {
    const v = Float64Array.from(values).sort();
    const q = (f) => v[Math.min(v.length - 1, Math.max(0, Math.round(f * (v.length - 1))))];
    return [q(p), q(1 - p)];
  };
  return [...range(xs), ...range(ys)];
}

/** Data -> pixel scale and centre that fit `box` and every point of `rows` into a W × H canvas with
 * `margin` pixels to spare on each side, the same scale on both axes. */
export function fitFrame(box, rows, xs, ys, W, H, margin) {
  let [x0, x1, y0, y1] = box;
  for (const i of rows) {
    x0 = Math.min(x0, xs[i]); x1 = Math.max(x1, xs[i]);
    y0 = Math.min(y0, ys[i]); y1 = Math.max(y1, ys[i]);
  }
  const s = Math.min(Math.max(W - 2 * margin, 10) / (x1 - x0 || 1), Math.max(H - 2 * margin, 10) / (y1 - y0 || 1));
  return { s, cx: (x0 + x1) / 2, cy: (y0 + y1) / 2 };
}

/** The box [x0, y0, x1, y1] for a w × h label of a marker at (x, y) of radius r: the first of right,
 * left, above, below, the four corners and then the same one line further out, that lies inside the
 * W × H canvas and covers none of `taken`; null when there is none. */
export function labelBox(x, y, r, w, h, W, H, taken) {
  const g = r + 6; // clear of the marker and of the focus ring drawn around it
  const spots = [
    [x + g, y - h / 2], [x - g - w, y - h / 2], [x - w / 2, y - g - h], [x - w / 2, y + g],
    [x + g, y - g - h], [x - g - w, y - g - h], [x + g, y + g], [x - g - w, y + g],
    [x - w / 2, y - g - 2 * h], [x - w / 2, y + g + h],
    [x + g, y - g - 2 * h], [x - g - w, y - g - 2 * h], [x + g, y + g + h], [x - g - w, y + g + h],
  ];
  for (const [x0, y0] of spots) {
    const box = [x0, y0, x0 + w, y0 + h];
    if (box[0] < 2 || box[1] < 2 || box[2] > W - 2 || box[3] > H - 2) continue;
    if (taken.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])) continue;
    return box;
  }
  return null;
}

/** The point nearest to (mx, my) on screen within `radius` pixels, or -1; `penalty(i)` (squared pixels)
 * lets some points lose near-ties. sx(i), sy(i) give point i's screen position. */
export function nearestPoint(n, sx, sy, mx, my, radius, penalty = () => 0) {
  let best = -1, bestD = radius * radius;
  for (let i = 0; i < n; i++) {
    const dx = sx(i) - mx, dy = sy(i) - my;
    const d = dx * dx + dy * dy + penalty(i);
    if (d < bestD) { bestD = d; best = i; }
  }
  return best;
}

/** The nearest point from point i in direction (ux, uy) on screen: inside a ±45° cone, else a wider
 * ±72° one; sideways distance counts double so that a move stays on its line. -1 if there is none. */
export function stepFrom(n, sx, sy, i, ux, uy) {
  const x0 = sx(i), y0 = sy(i);
  for (const spread of [1, 3]) {
    let best = -1, bestScore = Infinity;
    for (let j = 0; j < n; j++) {
      const dx = sx(j) - x0, dy = sy(j) - y0;
      const along = dx * ux + dy * uy, side = Math.abs(dx * uy - dy * ux);
      if (along < 0.5 || side > spread * along) continue;
      const score = along + 2 * side;
      if (score < bestScore) { bestScore = score; best = j; }
    }
    if (best >= 0) return best;
  }
  return -1;
}

// Marker shapes, so that a category or a role is told apart by its shape as well as its colour. Each
// shape is a polygon around the unit circle (or the circle itself): the map draws it on a canvas and the
// legend as SVG, from the same geometry.

function regular(n, turn = 0, radius = 1) {
  return Array.from({ length: n }, (_, k) => {
    const a = turn + (2 * Math.PI * k) / n;
    return [radius * Math.sin(a), -radius * Math.cos(a)];
  });
}

function star(points, inner) {
  return Array.from({ length: 2 * points }, (_, k) => {
    const a = (Math.PI * k) / points;
    const r = k % 2 ? inner : 1.25;
    return [r * Math.sin(a), -r * Math.cos(a)];
  });
}

function plus(w, turn = 0) {
  const arm = [[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w], [w, 1], [-w, 1], [-w, w], [-1, w], [-1, -w], [-w, -w]];
  const c = Math.cos(turn), s = Math.sin(turn);
  return arm.map(([x, y]) => [x * c - y * s, x * s + y * c]);
}

/** Shape name -> polygon vertices on about the unit circle (null: a circle). Triangles are drawn a little
 * larger so that every shape covers about the same area. */
export const SHAPES = {
  circle: null,
  square: [[-0.85, -0.85], [0.85, -0.85], [0.85, 0.85], [-0.85, 0.85]],
  triangle: regular(3, 0, 1.3),
  diamond: regular(4, 0, 1.15),
  "triangle-down": regular(3, Math.PI, 1.3),
  plus: plus(0.38),
  star: star(5, 0.55),
  hexagon: regular(6, 0, 1.05),
  cross: plus(0.38, Math.PI / 4),
  pentagon: regular(5, 0, 1.1),
  "triangle-left": regular(3, -Math.PI / 2, 1.3),
  "triangle-right": regular(3, Math.PI / 2, 1.3),
};

/** The order categories take shapes in: the first twelve categories all look different. */
export const SHAPE_CYCLE = Object.keys(SHAPES);

/** Add one marker of `shape` centred on (x, y) with radius `r` to the canvas path. The outline is left
 * open: fill() closes it anyway (closing thousands of sub-paths is slow); call closePath() to stroke one. */
export function tracePath(ctx, shape, x, y, r) {
  const poly = SHAPES[shape];
  if (!poly) {
    ctx.moveTo(x + r, y);
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    return;
  }
  ctx.moveTo(x + poly[0][0] * r, y + poly[0][1] * r);
  for (let k = 1; k < poly.length; k++) ctx.lineTo(x + poly[k][0] * r, y + poly[k][1] * r);
}

const SVG = "http://www.w3.org/2000/svg";

/** A small SVG swatch of a marker, for legends (decorative: the legend's text names it). */
export function shapeSwatch(shape, color, { size = 14, stroke = "#fff", ring = false } = {}) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", size);
  svg.setAttribute("height", size);
  svg.setAttribute("viewBox", "-1.6 -1.6 3.2 3.2");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("emap-swatch");
  const poly = SHAPES[shape];
  const mark = document.createElementNS(SVG, poly ? "polygon" : "circle");
  if (poly) mark.setAttribute("points", poly.map(([x, y]) => `${x.toFixed(3)},${y.toFixed(3)}`).join(" "));
  else mark.setAttribute("r", "1");
  mark.setAttribute("fill", ring ? "none" : color);
  mark.setAttribute("stroke", ring ? color : stroke);
  mark.setAttribute("stroke-width", ring ? "0.35" : "0.25");
  svg.appendChild(mark);
  return svg;
}

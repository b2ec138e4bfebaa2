// Charts drawn with uPlot (MIT, vendored from the npm registry with its
// licence in ../vendor/uplot). Each chart comes with the table of its
// numbers, which is what screen readers and the print stylesheet use.
// Charts are pictures: they plot numbers, while the tables beside them
// show the API's exact decimal strings.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { h } from './ui.js';

const palette = ['#1f6f50', '#c2410c', '#1d4ed8', '#a16207', '#7e22ce', '#0f766e', '#be123c'];

function size(el) {
  return { width: Math.max(320, Math.min(el.clientWidth || 640, 900)), height: 240 };
}

// bars draws, per category (labels), one bar for each series side by
// side: each series has its own x positions inside the category's slot,
// and a value only at its own.
export function bars(labels, series, { title }) {
  const el = h('figure', { class: 'chart', role: 'img', 'aria-label': title });
  const n = series.length;
  const w = 0.8 / n;
  const xs = [];
  labels.forEach((_, i) => series.forEach((__, k) => xs.push(i - 0.4 + w * (k + 0.5))));
  const data = [xs, ...series.map((s, k) => xs.map((_, j) => (j % n === k ? s.values[Math.floor(j / n)] : null)))];
  requestAnimationFrame(() => {
    const opts = {
      ...size(el),
      legend: { show: true, live: false },
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { splits: () => labels.map((_, i) => i), values: (_, ticks) => ticks.map((i) => labels[Math.round(i)] ?? ''), gap: 4 },
        { size: 70 },
      ],
      series: [{}, ...series.map((s, i) => ({
        label: s.label,
        fill: palette[i % palette.length] + 'cc',
        stroke: palette[i % palette.length],
        paths: uPlot.paths.bars({ size: [0.95, Infinity], align: 0 }),
        points: { show: false },
      }))],
      cursor: { show: false },
    };
    new uPlot(opts, data, el);
  });
  return el;
}

// lines draws series over days or months (x: labels in order).
export function lines(labels, series, { title }) {
  const el = h('figure', { class: 'chart', role: 'img', 'aria-label': title });
  const xs = labels.map((_, i) => i);
  requestAnimationFrame(() => {
    const opts = {
      ...size(el),
      legend: { show: true, live: false },
      scales: { x: { time: false } },
      axes: [
        { values: (_, ticks) => ticks.map((i) => (Number.isInteger(i) ? labels[i] ?? '' : '')) },
        { size: 80 },
      ],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: palette[i % palette.length], width: 2, points: { size: 6 } }))],
    };
    new uPlot(opts, [xs, ...series.map((s) => s.values)], el);
  });
  return el;
}

// Draws the charts of an aqcheck HTML report with Chart.js (embedded in the
// same page before this script).  harness/report/html.cpp writes the chart
// specs as JSON into the page's element #aq-charts (a script element of type
// application/json), each {id, type: "line" | "ratio", title, ...}, and a
// canvas element with that id for each.  (This file is inlined into a script
// element: no tag may be written out in it.)
//
// The page says what it did, for people and for the browser test
// (ci/tests/test_html_reports.py), in data-* attributes: the body's
// data-charts-expected (written by html.cpp), and set here: the body's
// data-charts-drawn, data-chart-ids (space-separated), data-all-charts-drawn
// ("1" when every spec drew), data-render-done="1";
// each canvas's data-points (data points placed) and data-inked-pixels; the
// html element's data-script-errors (a JSON list, kept by the error catcher
// that html.cpp puts first in the page's head).
// A chart counts as drawn only when it placed points and inked its canvas.
(function () {
  'use strict';

  // Okabe-Ito: told apart with every common colour blindness.
  const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#000000'];
  const PASS_COLOUR = '#0072B2';
  const FAIL_COLOUR = '#D55E00';
  const THRESHOLD_COLOUR = '#C00000';

  function baseOptions(spec) {
    return {
      animation: false,  // drawn at once: a screenshot never catches half a chart
      responsive: true,
      maintainAspectRatio: false,
      plugins: {
        title: { display: true, text: spec.title, font: { size: 14 } },
        legend: { position: 'bottom', labels: { usePointStyle: true, boxWidth: 10 } },
        tooltip: { mode: 'index', intersect: false },
      },
    };
  }

  function axisTitle(text) {
    return { display: true, text: text };
  }

  function lineConfig(spec) {
    const datasets = spec.series.map(function (s, i) {
      return {
        label: s.label,
        data: spec.x.map(function (x, k) { return { x: x, y: s.values[k] }; }),
        borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length],
        borderWidth: 1.5,
        pointRadius: spec.x.length > 60 ? 0 : 2,
        pointStyle: 'line',
        // A count that holds until the next point: across, then up.
        stepped: spec.stepped ? 'before' : false,
      };
    });
    const options = baseOptions(spec);
    options.parsing = false;
    options.plugins.legend.display = spec.series.length > 1;  // the title names a lone series
    options.scales = {
      x: { type: 'linear', title: axisTitle(spec.x_title), min: 0 },
      // Counts (tasks, counters) get whole-number ticks only.
      y: { type: 'linear', beginAtZero: true, title: axisTitle(spec.y_title), ticks: { precision: spec.counts ? 0 : undefined } },
    };
    return { type: 'line', data: { datasets: datasets }, options: options };
  }

  // Per metric: the median ratio to EEVDF as a bar (orange when its threshold
  // check failed), the lowest and highest round as short dark marks, the
  // threshold as a long red mark, and EEVDF itself (1) as a dashed line.
  // Ratios span 0.003 to 3, hence the log scale.
  function ratioConfig(spec) {
    const n = spec.labels.length;
    const mark = function (label, values, colour, radius, width) {
      return {
        type: 'line', label: label, data: values, showLine: false, pointStyle: 'line',
        pointRadius: radius, pointHoverRadius: radius, borderWidth: width,
        borderColor: colour, backgroundColor: colour, order: 0,
      };
    };
    const datasets = [
      {
        type: 'bar', label: 'median ratio to EEVDF', data: spec.median, order: 2, pointStyle: 'rect',
        backgroundColor: spec.passed.map(function (p) { return p === false ? FAIL_COLOUR : PASS_COLOUR; }),
        barPercentage: 0.6,
      },
      mark('lowest round', spec.min, '#000000', 8, 2),
      mark('highest round', spec.max, '#555555', 8, 2),
      // Wider than the bar, so that it shows beside a bar that reaches it.
      mark('threshold', spec.threshold, THRESHOLD_COLOUR, 30, 4),
      {
        type: 'line', label: 'EEVDF (1)', data: new Array(n).fill(1), borderColor: '#555555',
        borderDash: [6, 4], borderWidth: 1, pointRadius: 0, pointStyle: 'line', order: 1,
      },
    ];
    const options = baseOptions(spec);
    options.plugins.legend.labels.sort = function (a, b) { return a.datasetIndex - b.datasetIndex; };
    options.scales = {
      x: { type: 'category', title: axisTitle('metric') },
      y: { type: 'logarithmic', title: axisTitle(spec.y_title) },
    };
    return { type: 'bar', data: { labels: spec.labels, datasets: datasets }, options: options };
  }

  const CONFIGS = { line: lineConfig, ratio: ratioConfig };

  function pointsPlaced(chart) {
    let n = 0;
    chart.data.datasets.forEach(function (_, i) {
      chart.getDatasetMeta(i).data.forEach(function (el) {
        if (!el.skip && Number.isFinite(el.x) && Number.isFinite(el.y)) n++;
      });
    });
    return n;
  }

  function inkedPixels(canvas) {
    const ctx = canvas.getContext('2d');
    const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) n++;
    return n;
  }

  function draw(spec) {
    const canvas = document.getElementById(spec.id);
    if (!canvas) throw new Error('chart ' + spec.id + ': no canvas');
    const make = CONFIGS[spec.type];
    if (!make) throw new Error('chart ' + spec.id + ': unknown type ' + spec.type);
    const chart = new Chart(canvas, make(spec));
    canvas.dataset.points = String(pointsPlaced(chart));
    canvas.dataset.inkedPixels = String(inkedPixels(canvas));
    return canvas.dataset.points !== '0' && canvas.dataset.inkedPixels !== '0';
  }

  const specs = JSON.parse(document.getElementById('aq-charts').textContent);
  const drawn = [];
  specs.forEach(function (spec) {
    try {
      if (draw(spec)) drawn.push(spec.id);
    } catch (e) {
      window.aqRecordScriptError('chart ' + spec.id + ': ' + (e && e.stack ? e.stack : e));
    }
  });
  document.body.dataset.chartsDrawn = String(drawn.length);
  document.body.dataset.allChartsDrawn = drawn.length === specs.length ? '1' : '0';
  document.body.dataset.chartIds = drawn.join(' ');
  document.body.dataset.renderDone = '1';
})();

/* The dashboard's charts (ECharts, vendored). Every bar and point opens its list. The tables
   under the charts carry the same numbers for screen readers and when scripts are off. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  // Tooltips drawn on the canvas: ECharts' HTML tooltips carry style="" attributes, which the
  // Content-Security-Policy (style-src 'self') refuses.
  var TOOLTIP = { trigger: "axis", renderMode: "richText" };
  if (typeof echarts === "undefined") { return; }
  function bar(id, series, horizontal) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var chart = echarts.init(el);
    var category = { type: "category", data: series.labels, axisLabel: { interval: 0, overflow: "truncate", width: 80 } };
    var value = { type: "value", minInterval: 1 };
    chart.setOption({
      grid: { left: horizontal ? 110 : 40, right: 16, top: 16, bottom: 40 },
      tooltip: TOOLTIP,
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? Object.assign({ inverse: true }, category) : value,
      series: [{ type: "bar", data: series.values, itemStyle: { color: "#0d6efd" }, cursor: "pointer" }]
    });
    chart.on("click", function (p) { if (series.links[p.dataIndex]) { window.location = series.links[p.dataIndex]; } });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function weeks(id, w) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var chart = echarts.init(el);
    chart.setOption({
      grid: { left: 40, right: 16, top: 36, bottom: 30 },
      tooltip: TOOLTIP,
      legend: { data: w.names, top: 0 },
      xAxis: { type: "category", data: w.labels },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: w.names[0], type: "bar", data: w.opened, itemStyle: { color: "#fd7e14" } },
        { name: w.names[1], type: "bar", data: w.finished, itemStyle: { color: "#198754" } },
        { name: w.names[2], type: "line", data: w.open, itemStyle: { color: "#dc3545" } }
      ]
    });
    // links[series][week]: 新增 opens the cases opened that week, 结案 those finished in it,
    // 未结案 those open at its end.
    chart.on("click", function (p) {
      var links = w.links[p.seriesIndex] || [];
      if (links[p.dataIndex]) { window.location = links[p.dataIndex]; }
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  weeks("chart-weeks", data.weeks);
  bar("chart-states", data.states, false);
  bar("chart-villages", data.villages, true);
  bar("chart-schools", data.schools, true);
})();

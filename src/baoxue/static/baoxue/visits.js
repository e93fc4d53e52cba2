/* A campaign's coverage chart (ECharts, vendored): households visited and not yet visited per
   village, stacked; a bar opens that village's households. The table beside it carries the same
   numbers for screen readers and when scripts are off. */
(function () {
  "use strict";
  var source = document.getElementById("coverage-data");
  var el = document.getElementById("chart-coverage");
  if (!source || !el || typeof echarts === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var chart = echarts.init(el);
  chart.setOption({
    grid: { left: 40, right: 16, top: 36, bottom: 40 },
    // Drawn on the canvas: HTML tooltips carry style="" attributes the CSP refuses.
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { data: data.names, top: 0 },
    xAxis: { type: "category", data: data.labels, axisLabel: { interval: 0, overflow: "truncate", width: 80 } },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: data.names[0], type: "bar", stack: "all", data: data.visited, itemStyle: { color: "#198754" }, cursor: "pointer" },
      { name: data.names[1], type: "bar", stack: "all", data: data.open, itemStyle: { color: "#dc3545" }, cursor: "pointer" }
    ]
  });
  chart.on("click", function (p) { if (data.links[p.dataIndex]) { window.location = data.links[p.dataIndex]; } });
  window.addEventListener("resize", function () { chart.resize(); });
})();

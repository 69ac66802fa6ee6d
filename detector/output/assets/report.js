/* report.html behaviour: sortable and filterable tables. Inlined by detector/output/html.py and
   allowed by the page's CSP through its sha256 hash. No network, no eval, no inline handlers;
   reads its labels from the JSON block #ms-data. Without scripts the page is complete. */
(function () {
  "use strict";
  var cfg = {};
  try {
    cfg = JSON.parse(document.getElementById("ms-data").textContent) || {};
  } catch (e) {
    cfg = {};
  }
  var s = cfg.strings || {};
  function label(key, fallback) {
    return typeof s[key] === "string" ? s[key] : fallback;
  }
  function fmt(text, n, m) {
    return String(text).replace("{n}", String(n)).replace("{m}", String(m));
  }

  function ipKey(text) {
    var v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
    if (v4) {
      return "4:" + v4.slice(1).map(function (x) { return ("00" + x).slice(-3); }).join(".");
    }
    return "6:" + text.toLowerCase();
  }

  function sortKey(cell, type) {
    if (!cell) { return null; }
    var v = cell.getAttribute("data-v");
    if (v !== null) {
      if (v === "") { return null; }
      var n = Number(v);
      return isNaN(n) ? v.toLowerCase() : n;
    }
    var text = cell.textContent.replace(/\s+/g, " ").trim();
    if (type === "ip") { return ipKey(text); }
    if (type === "num") {
      var m = Number(text.replace(/[^0-9.eE+-]/g, ""));
      return text === "" || isNaN(m) ? null : m;
    }
    return text.toLowerCase();
  }

  function compare(a, b) {
    if (a === null && b === null) { return 0; }
    if (a === null) { return 1; }   /* missing values sort last */
    if (b === null) { return -1; }
    if (typeof a === typeof b) { return a < b ? -1 : a > b ? 1 : 0; }
    return typeof a === "number" ? -1 : 1;
  }

  function makeSortable(table) {
    var head = table.tHead;
    if (!head || !head.rows.length || !table.tBodies.length) { return; }
    var ths = head.rows[0].cells;
    Array.prototype.forEach.call(ths, function (th, col) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.title = label("sort", "Sort");
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        var type = th.getAttribute("data-type") || "text";
        var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
        Array.prototype.forEach.call(ths, function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", dir);
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
          return { row: row, key: sortKey(row.cells[col], type), i: i };
        });
        rows.sort(function (x, y) {
          var c = compare(x.key, y.key);
          if (dir === "descending" && x.key !== null && y.key !== null) { c = -c; }
          return c || x.i - y.i;
        });
        var frag = document.createDocumentFragment();
        rows.forEach(function (r) { frag.appendChild(r.row); });
        body.appendChild(frag);
      });
    });
  }

  function makeFilterable(table) {
    var body = table.tBodies[0];
    if (!body) { return; }
    var rows = Array.prototype.slice.call(body.rows);
    var texts = rows.map(function (row) { return row.textContent.replace(/\s+/g, " ").toLowerCase(); });
    var bar = document.createElement("div");
    bar.className = "filterbar";
    var input = document.createElement("input");
    input.type = "search";
    input.className = "filter";
    input.setAttribute("data-table", table.id || "");
    input.placeholder = label("filter_placeholder", "Filter rows");
    input.setAttribute("aria-label", label("filter_label", "Filter"));
    var count = document.createElement("span");
    count.className = "count";
    count.setAttribute("aria-live", "polite");
    bar.appendChild(input);
    bar.appendChild(count);
    var anchor = table.parentNode && table.parentNode.className === "tablewrap" ? table.parentNode : table;
    anchor.parentNode.insertBefore(bar, anchor);
    function update() {
      var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row, i) {
        var ok = terms.every(function (t) { return texts[i].indexOf(t) !== -1; });
        row.classList.toggle("filtered-out", !ok);
        if (ok) { shown += 1; }
      });
      count.textContent = fmt(label("rows_shown", "{n} of {m} rows"), shown, rows.length);
    }
    input.addEventListener("input", update);
    update();
  }

  document.documentElement.classList.add("js");
  /* Tables inside host details (one per host, thousands in a big sweep) get their sort buttons
     when they first come near the viewport; the others at once. */
  var lazy = [];
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (table.closest("article.host") && "IntersectionObserver" in window) {
      lazy.push(table);
    } else {
      makeSortable(table);
    }
  });
  if (lazy.length) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          observer.unobserve(entry.target);
          makeSortable(entry.target);
        }
      });
    }, { rootMargin: "800px 0px" });
    lazy.forEach(function (table) { observer.observe(table); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table[data-filter]"), makeFilterable);
}());

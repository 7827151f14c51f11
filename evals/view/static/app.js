// evals view: sortable tables, metric-column choice, trend metric choice, page filter (static bundle).
// Reads and moves existing DOM nodes only: no markup is ever built from data.
"use strict";

function cellValue(row, index) {
  const cell = row.cells[index];
  if (!cell) return "";
  return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
}

function compareValues(a, b) {
  if (a === "" && b === "") return 0;
  if (a === "") return 1;  // missing values last
  if (b === "") return -1;
  const x = Number(a), y = Number(b);
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  return a.localeCompare(b, undefined, { numeric: true });
}

function makeSortable(table) {
  const headers = Array.from(table.tHead ? table.tHead.rows[0].cells : []);
  headers.forEach((th, index) => {
    if (!th.hasAttribute("data-sortable")) return;
    th.addEventListener("click", () => {
      const ascending = !th.classList.contains("sorted-asc");
      headers.forEach((h) => h.classList.remove("sorted-asc", "sorted-desc"));
      th.classList.add(ascending ? "sorted-asc" : "sorted-desc");
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      rows.sort((r1, r2) => {
        const order = compareValues(cellValue(r1, index), cellValue(r2, index));
        return ascending ? order : -order;
      });
      rows.forEach((row) => body.appendChild(row));
    });
  });
}

function chosenColumns() {
  return Array.from(document.querySelectorAll("input[data-toggle-col]:checked"), (box) => box.value);
}

function setupColumnChoice() {
  document.querySelectorAll("input[data-toggle-col]").forEach((box) => {
    box.addEventListener("change", () => {
      const name = box.getAttribute("data-toggle-col");
      document.querySelectorAll("[data-col]").forEach((cell) => {
        if (cell.getAttribute("data-col") === name) cell.classList.toggle("col-hidden", !box.checked);
      });
      if (document.body.getAttribute("data-mode") === "server" && window.history.replaceState) {
        const params = new URLSearchParams();
        chosenColumns().forEach((column) => params.append("metrics", column));
        window.history.replaceState(null, "", "?" + params.toString());
      }
    });
  });
}

function setupTrendChoice() {
  const select = document.getElementById("trend-metric");
  if (!select) return;
  const show = () => {
    document.querySelectorAll("section.trend").forEach((section) => {
      section.classList.toggle("col-hidden", section.getAttribute("data-metric") !== select.value);
    });
  };
  select.addEventListener("change", () => {
    show();
    if (document.body.getAttribute("data-mode") === "server" && window.history.replaceState) {
      window.history.replaceState(null, "", "?metric=" + encodeURIComponent(select.value));
    }
  });
  show();
}

function setupPageFilter() {
  const input = document.getElementById("page-filter");
  const table = document.getElementById("item-table");
  if (!input || !table) return;
  input.addEventListener("input", () => {
    const wanted = input.value.trim().toLowerCase();
    Array.from(table.tBodies[0].rows).forEach((row) => {
      row.classList.toggle("col-hidden", wanted !== "" && !row.textContent.toLowerCase().includes(wanted));
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  setupColumnChoice();
  setupTrendChoice();
  setupPageFilter();
  document.documentElement.setAttribute("data-ready", "1");
});

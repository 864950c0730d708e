// keyhaven console: small progressive enhancements; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Destructive actions ask first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  // A filter box above long tables narrows their rows as one types.
  for (const table of document.querySelectorAll("table[data-filter]")) {
    const input = document.createElement("input");
    input.type = "search";
    input.placeholder = "Filter rows";
    input.className = "filter";
    input.setAttribute("aria-label", "Filter rows");
    table.before(input);
    input.addEventListener("input", () => {
      const needle = input.value.toLowerCase();
      for (const row of table.tBodies[0].rows) {
        row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
      }
    });
  }
});

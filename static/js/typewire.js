/* Typewire's only script: "Copy" buttons (data-copy="<element id>"). Everything else is htmx. */
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  source.select();
  if (navigator.clipboard) {
    navigator.clipboard.writeText(source.value).then(function () {
      button.textContent = "Copied";
    });
  }
});

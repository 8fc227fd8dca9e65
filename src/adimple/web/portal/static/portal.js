// Progressive enhancements only: every page works without JavaScript.
// "Copiar" buttons stay hidden unless the Clipboard API is available.
document.addEventListener("DOMContentLoaded", function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll("button[data-copiar]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copiar"));
    var notice = document.getElementById(button.getAttribute("data-copiar") + "-aviso");
    if (!target) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.value.trim()).then(function () {
        if (notice) notice.textContent = "Copiado!";
      }, function () {
        target.select();
        if (notice) notice.textContent = "Selecione o texto e copie.";
      });
    });
  });
});

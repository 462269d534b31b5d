// Starts Swagger UI on /api/docs. Kept out of the page because the CSP allows no inline script.
window.addEventListener('DOMContentLoaded', () => {
  const root = document.getElementById('swagger-ui');
  if (!root || typeof window.SwaggerUIBundle !== 'function') return;
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // No call to the public validator service: the CSP forbids it, and the document should not leave the server.
    validatorUrl: null,
    persistAuthorization: false,
    tryItOutEnabled: true,
  });
});

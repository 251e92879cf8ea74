// The API docs: Swagger UI, served by app.py itself, on the app's own /openapi.json.
"use strict";

if (window.SwaggerUIBundle) {
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    defaultModelsExpandDepth: 1,
  });
}

// A minimal offline OpenAPI viewer: endpoints, their request fields and response schema names.
"use strict";

function resolve(spec, schema) {
  while (schema && schema.$ref) schema = spec.components.schemas[schema.$ref.split("/").pop()];
  return schema || {};
}

function typeOf(spec, schema) {
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(spec, s)).join(" | ");
  if (schema.type === "array") return typeOf(spec, schema.items || {}) + "[]";
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  return schema.type || "any";
}

function fieldsTable(spec, schema) {
  const table = document.createElement("table");
  const required = new Set(schema.required || []);
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const row = table.insertRow();
    row.insertCell().innerHTML = `<code>${name}</code>${required.has(name) ? " *" : ""}`;
    row.insertCell().textContent = typeOf(spec, prop) + ("default" in prop ? ` = ${JSON.stringify(prop.default)}` : "");
    row.insertCell().textContent = prop.description || "";
  }
  return table;
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  const root = document.getElementById("endpoints");
  root.replaceChildren();
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const box = document.createElement("section");
      box.className = "endpoint";
      box.innerHTML = `<h2><span class="method ${method}">${method.toUpperCase()}</span>${path}</h2>`;
      const about = document.createElement("p");
      about.textContent = op.description || op.summary || "";
      box.append(about);
      const body = op.requestBody && op.requestBody.content["application/json"];
      if (body) {
        box.append(Object.assign(document.createElement("b"), { textContent: "Request body" }));
        box.append(fieldsTable(spec, resolve(spec, body.schema)));
      }
      const ok = op.responses["200"] && op.responses["200"].content;
      if (ok) {
        const schema = ok["application/json"].schema;
        const p = document.createElement("p");
        p.innerHTML = `<b>200</b>: <code>${typeOf(spec, schema)}</code>`;
        box.append(p, fieldsTable(spec, resolve(spec, schema)));
      }
      root.append(box);
    }
  }
}

main().catch((err) => { document.getElementById("endpoints").textContent = "cannot load /openapi.json: " + err.message; });

"""GET /openapi.json (OpenAPI 3.1) and GET /docs, both behind an API key like every other route.

The docs page is rendered here from the OpenAPI description as one self-contained HTML page: no
script, no stylesheet or font from a CDN, nothing a browser must fetch without the key.
"""

from __future__ import annotations

import html
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from deskhand.api.auth import ANY, require
from deskhand.api.keys import Principal

router = APIRouter(include_in_schema=False)
Anyone = Annotated[Principal, Depends(require(ANY))]
STYLE = ("body{font:14px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
         "code,pre{background:#f4f4f4;padding:0 .2rem}pre{padding:.5rem;overflow:auto}"
         "h3{margin-bottom:.2rem}.m{font-weight:bold;text-transform:uppercase;margin-right:.5rem}"
         "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .4rem;text-align:left}")


@router.get("/openapi.json")
def openapi(request: Request, _who: Anyone) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def docs(request: Request, _who: Anyone) -> HTMLResponse:
    return HTMLResponse(render(request.app.openapi()))


def render(spec: dict[str, Any]) -> str:
    e = html.escape
    info = spec.get("info", {})
    parts = [f"<!doctype html><meta charset=utf-8><title>{e(info.get('title', 'API'))}</title><style>{STYLE}</style>",
             f"<h1>{e(info.get('title', ''))} {e(str(info.get('version', '')))}</h1>",
             "<p>Every call needs <code>Authorization: Bearer &lt;API key&gt;</code>. Errors are RFC 9457 problem "
             "documents. The machine-readable description is <code>/openapi.json</code>.</p>"]
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            parts.append(f"<h3><span class=m>{e(method)}</span><code>{e(path)}</code></h3>")
            parts.append(f"<p>{e(op.get('summary', ''))}</p>")
            params = op.get("parameters", [])
            if params:
                rows = "".join(
                    f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p.get('in', ''))}</td>"
                    f"<td>{'yes' if p.get('required') else ''}</td>"
                    f"<td><code>{e(_type(p.get('schema', {})))}</code></td></tr>"
                    for p in params)
                parts.append(f"<table><tr><th>parameter</th><th>in</th><th>required</th><th>type</th></tr>{rows}</table>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                parts.append(f"<p>body: <code>{e(_type(body))}</code></p>")
            codes = ", ".join(sorted(op.get("responses", {})))
            parts.append(f"<p>responses: {e(codes)}</p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        shape = json.dumps(schema.get("properties", schema), indent=1)
        parts.append(f"<h3 id='{e(name)}'>{e(name)}</h3><pre>{e(shape)}</pre>")
    return "\n".join(parts)


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list[{_type(schema.get('items', {}))}]"
    return str(schema.get("type", "any"))

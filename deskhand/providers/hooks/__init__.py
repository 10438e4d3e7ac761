"""Named escape hatches: deskhand.providers.hooks.<slug> holds what a definition can't say as data.

A definition names hook functions (``hook: <name>``); the loader checks they exist. Signatures:

- field rule or call argument: ``f(value) -> value`` (e.g. ADF document -> text, text -> ADF);
- resource call (``hook:`` instead of ``call:``): ``f(connector, args) -> response body``;
- action: ``f(connector, action, args) -> summary dict`` (e.g. Jira status via transitions);
- ``prepare:`` (top level): ``f(values) -> values``, once per connector, to derive connection values
  (e.g. a bounded JQL from an optional project key) or reject bad ones with a ConfigError.

A hook may use ``connector.send(call_spec, args)``, ``connector.call(...)``,
``connector.iter_records(...)`` and ``connector.http.request(method, path, ...)``.
"""

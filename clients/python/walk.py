"""The generated Python client against a live server (run under testkit's thv-fixture).

Every call goes through the client openapi-python-client generated from docs/openapi.yaml
(package thv_registry_client): typed calls and typed replies, nothing built by hand but the base
URL and the bearer token. It walks every page of the default registry, reads one server's
versions and its latest version, asks for a missing server, lists the sources, publishes a
server.json into the managed registry and reads it back. It prints one line, or exits 1 naming
the first mismatch.

Environment (set by thv-fixture): THV_URL, THV_TOKEN, THV_REGISTRY, THV_MANAGED_REGISTRY,
THV_EXPECT_ENTRIES, THV_EXPECT_SERVER, THV_EXPECT_SERVER_VERSIONS, THV_EXPECT_LATEST.
"""

import os
import sys
from http import HTTPStatus

from thv_registry_client import AuthenticatedClient, Client
from thv_registry_client.api.management import list_sources
from thv_registry_client.api.publish import publish_registry_server
from thv_registry_client.api.servers import (
    get_registry_server_version,
    get_server,
    get_server_version,
    list_server_versions,
    list_servers,
)
from thv_registry_client.models import Problem, ServerDetail, ServerList, ServerResponse, SourceList
from thv_registry_client.types import UNSET

LIMIT = 7
PUBLISHED_NAME = "io.github.example/walk-python"
MISSING_NAME = "io.github.example/no-such-server"


class Mismatch(Exception):
    """What the server said differs from what the fixture expects."""


def check(ok: bool, message: str) -> None:
    if not ok:
        raise Mismatch(message)


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise Mismatch(f"{name} is not set: run this under thv-fixture")
    return value


def parsed(response, kind, what: str):
    """The typed body of a reply, which must be of `kind`."""
    check(
        isinstance(response.parsed, kind),
        f"{what}: status {int(response.status_code)}, expected a {kind.__name__}: {response.content[:300]!r}",
    )
    return response.parsed


def walk(client: Client) -> tuple[list[tuple[str, str]], int]:
    """Every row of the default registry, page by page with limit=7; the rows and the page count."""
    rows: list[tuple[str, str]] = []
    cursor = UNSET
    pages = 0
    while True:
        pages += 1
        check(pages <= 10_000, "more than 10000 pages: the cursor does not advance")
        page = parsed(
            list_servers.sync_detailed(client=client, limit=LIMIT, cursor=cursor), ServerList, f"page {pages}"
        )
        check(len(page.servers) <= LIMIT, f"page {pages}: {len(page.servers)} rows with limit={LIMIT}")
        check(page.metadata.count == len(page.servers), f"page {pages}: metadata.count {page.metadata.count}, {len(page.servers)} rows")
        rows.extend((row.server.name, row.server.version) for row in page.servers)
        if not page.metadata.next_cursor:
            return rows, pages
        check(len(page.servers) == LIMIT, f"page {pages} has a nextCursor but {len(page.servers)} rows")
        check(page.metadata.next_cursor != cursor, f"page {pages}: nextCursor repeats the cursor")
        cursor = page.metadata.next_cursor


def main() -> None:
    base_url = env("THV_URL")
    token = env("THV_TOKEN")
    managed = env("THV_MANAGED_REGISTRY")
    expect_entries = int(env("THV_EXPECT_ENTRIES"))
    expect_server = env("THV_EXPECT_SERVER")
    expect_versions = int(env("THV_EXPECT_SERVER_VERSIONS"))
    expect_latest = env("THV_EXPECT_LATEST")
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    authed = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)

    # The default registry (THV_REGISTRY, served at the root paths), every page.
    rows, pages = walk(anonymous)
    check(len(rows) == expect_entries, f"{len(rows)} rows in {pages} pages, the seed has {expect_entries}")
    check(len(set(rows)) == len(rows), "a (name, version) appears twice")
    keys = [(name.encode(), version.encode()) for name, version in rows]
    check(keys == sorted(keys), "rows are not ordered by (name, version)")

    # One server's versions, and its latest.
    versions = parsed(
        list_server_versions.sync_detailed(expect_server, client=anonymous), ServerList, f"versions of {expect_server}"
    )
    check(
        len(versions.servers) == expect_versions,
        f"{expect_server} has {len(versions.servers)} versions, the seed has {expect_versions}",
    )
    check(all(v.server.name == expect_server for v in versions.servers), f"versions of another server than {expect_server}")
    latest = parsed(
        get_server_version.sync_detailed(expect_server, "latest", client=anonymous), ServerResponse, "latest version"
    )
    check(latest.server.version == expect_latest, f"latest of {expect_server} is {latest.server.version}, expected {expect_latest}")
    official = latest.field_meta.io_modelcontextprotocol_registryofficial
    check(official.is_latest is True, f"{expect_server}@{latest.server.version} is not isLatest")

    # A missing server: a typed 404 problem.
    missing = get_server.sync_detailed(MISSING_NAME, client=anonymous)
    check(missing.status_code == HTTPStatus.NOT_FOUND, f"missing server: status {int(missing.status_code)}")
    problem = parsed(missing, Problem, "missing server")
    check(problem.status == 404 and problem.title and problem.detail, f"missing server: problem {problem.to_dict()}")

    # The sources, with the token.
    sources = parsed(list_sources.sync_detailed(client=authed), SourceList, "/v1/sources")
    names = sorted(s.name for s in sources.sources)
    registry = env("THV_REGISTRY")
    check("seed" in names, f"/v1/sources has no `seed` source: {names}")
    held = sum(s.entry_count for s in sources.sources if registry in s.registries)
    check(held == expect_entries, f"the sources of {registry} hold {held} entries, expected {expect_entries}")

    # Publish into the managed registry and read it back.
    document = {
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": PUBLISHED_NAME,
        "description": "Published by the generated Python client",
        "title": "Walk (Python)",
        "version": "1.0.0",
        "repository": {"url": "https://github.com/example/walk", "source": "github"},
        "packages": [
            {
                "registryType": "pypi",
                "identifier": "walk-python",
                "version": "1.0.0",
                "transport": {"type": "stdio"},
            }
        ],
    }
    published = parsed(
        publish_registry_server.sync_detailed(managed, client=authed, body=ServerDetail.from_dict(document)),
        ServerResponse,
        f"publish into {managed}",
    )
    check(published.server.to_dict() == document, f"publish answered another document: {published.server.to_dict()}")
    back = parsed(
        get_registry_server_version.sync_detailed(managed, PUBLISHED_NAME, "1.0.0", client=authed),
        ServerResponse,
        f"{PUBLISHED_NAME} from {managed}",
    )
    check(back.server.to_dict() == document, f"read back another document: {back.server.to_dict()}")
    check(back.field_meta.io_modelcontextprotocol_registryofficial.is_latest is True, "the published version is not isLatest")

    print(
        f"python client: {len(rows)} entries in {pages} pages of {LIMIT}; {expect_server}: {expect_versions} version(s), "
        f"latest {expect_latest}; missing server 404; {len(names)} sources; "
        f"published {PUBLISHED_NAME}@1.0.0 into {managed} and read it back"
    )


if __name__ == "__main__":
    try:
        main()
    except Mismatch as e:
        print(f"walk.py: FAIL: {e}", file=sys.stderr)
        sys.exit(1)

// The generated TypeScript client against a live server (run under testkit's thv-fixture).
//
// Every call goes through openapi-fetch typed by schema.d.ts, which openapi-typescript generates
// from docs/openapi.yaml: typed paths, parameters and replies, nothing built by hand but the base
// URL and the bearer token. It walks every page of the default registry, reads one server's
// versions and its latest version, asks for a missing server, lists the sources, publishes a
// server.json into the managed registry and reads it back. It prints one line, or exits 1 naming
// the first mismatch.
//
// Environment (set by thv-fixture): THV_URL, THV_TOKEN, THV_REGISTRY, THV_MANAGED_REGISTRY,
// THV_EXPECT_ENTRIES, THV_EXPECT_SERVER, THV_EXPECT_SERVER_VERSIONS, THV_EXPECT_LATEST.

import { isDeepStrictEqual } from "node:util";
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type ServerDetail = components["schemas"]["ServerDetail"];
type ServerResponse = components["schemas"]["ServerResponse"];

const LIMIT = 7;
const PUBLISHED_NAME = "io.github.example/walk-typescript";
const MISSING_NAME = "io.github.example/no-such-server";
const OFFICIAL = "io.modelcontextprotocol.registry/official";

class Mismatch extends Error {}

function check(ok: boolean, message: string): asserts ok {
  if (!ok) {
    throw new Mismatch(message);
  }
}

function env(name: string): string {
  const value = process.env[name];
  check(value !== undefined && value !== "", `${name} is not set: run this under thv-fixture`);
  return value;
}

/** The typed body of a 2xx reply. */
function ok<T>(reply: { data?: T; error?: unknown; response: Response }, what: string): T {
  check(
    reply.data !== undefined,
    `${what}: status ${reply.response.status}, ${JSON.stringify(reply.error ?? null).slice(0, 300)}`,
  );
  return reply.data;
}

/** Orders like the server: (name, version) by their UTF-8 bytes. */
function compareRows(a: [string, string], b: [string, string]): number {
  return Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])) || Buffer.compare(Buffer.from(a[1]), Buffer.from(b[1]));
}

async function main(): Promise<void> {
  const baseUrl = env("THV_URL");
  const token = env("THV_TOKEN");
  const managed = env("THV_MANAGED_REGISTRY");
  const expectEntries = Number(env("THV_EXPECT_ENTRIES"));
  const expectServer = env("THV_EXPECT_SERVER");
  const expectVersions = Number(env("THV_EXPECT_SERVER_VERSIONS"));
  const expectLatest = env("THV_EXPECT_LATEST");
  const anonymous = createClient<paths>({ baseUrl });
  const authed = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

  // The default registry (THV_REGISTRY, served at the root paths), every page.
  const rows: [string, string][] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    pages += 1;
    check(pages <= 10_000, "more than 10000 pages: the cursor does not advance");
    const query = cursor === undefined ? { limit: LIMIT } : { limit: LIMIT, cursor };
    const page = ok(await anonymous.GET("/v0.1/servers", { params: { query } }), `page ${pages}`);
    check(page.servers.length <= LIMIT, `page ${pages}: ${page.servers.length} rows with limit=${LIMIT}`);
    check(
      page.metadata.count === page.servers.length,
      `page ${pages}: metadata.count ${page.metadata.count}, ${page.servers.length} rows`,
    );
    rows.push(...page.servers.map((row): [string, string] => [row.server.name, row.server.version]));
    const next = page.metadata.nextCursor;
    if (next === undefined || next === "") {
      break;
    }
    check(page.servers.length === LIMIT, `page ${pages} has a nextCursor but ${page.servers.length} rows`);
    check(next !== cursor, `page ${pages}: nextCursor repeats the cursor`);
    cursor = next;
  }
  check(rows.length === expectEntries, `${rows.length} rows in ${pages} pages, the seed has ${expectEntries}`);
  check(new Set(rows.map(([n, v]) => `${n}\u0000${v}`)).size === rows.length, "a (name, version) appears twice");
  check(
    rows.every((row, i) => i === 0 || compareRows(rows[i - 1] ?? row, row) < 0),
    "rows are not ordered by (name, version)",
  );

  // One server's versions, and its latest.
  const versions = ok(
    await anonymous.GET("/v0.1/servers/{serverName}/versions", { params: { path: { serverName: expectServer } } }),
    `versions of ${expectServer}`,
  );
  check(
    versions.servers.length === expectVersions,
    `${expectServer} has ${versions.servers.length} versions, the seed has ${expectVersions}`,
  );
  check(
    versions.servers.every((v) => v.server.name === expectServer),
    `versions of another server than ${expectServer}`,
  );
  const latest = ok(
    await anonymous.GET("/v0.1/servers/{serverName}/versions/{version}", {
      params: { path: { serverName: expectServer, version: "latest" } },
    }),
    "latest version",
  );
  check(
    latest.server.version === expectLatest,
    `latest of ${expectServer} is ${latest.server.version}, expected ${expectLatest}`,
  );
  check(latest._meta[OFFICIAL].isLatest, `${expectServer}@${latest.server.version} is not isLatest`);

  // A missing server: a typed 404 problem.
  const missing = await anonymous.GET("/v0.1/servers/{serverName}", {
    params: { path: { serverName: MISSING_NAME } },
  });
  check(missing.response.status === 404, `missing server: status ${missing.response.status}`);
  const problem = missing.error;
  check(problem !== undefined, "missing server: no problem body");
  check(
    problem.status === 404 && problem.title !== "" && problem.detail !== "",
    `missing server: problem ${JSON.stringify(problem)}`,
  );

  // The sources, with the token.
  const sources = ok(await authed.GET("/v1/sources"), "/v1/sources");
  const names = sources.sources.map((s) => s.name).sort();
  const registry = env("THV_REGISTRY");
  check(names.includes("seed"), `/v1/sources has no \`seed\` source: ${names.join(", ")}`);
  const held = sources.sources.filter((s) => s.registries.includes(registry)).reduce((n, s) => n + s.entryCount, 0);
  check(held === expectEntries, `the sources of ${registry} hold ${held} entries, expected ${expectEntries}`);

  // Publish into the managed registry and read it back.
  const document: ServerDetail = {
    $schema: "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
    name: PUBLISHED_NAME,
    description: "Published by the generated TypeScript client",
    title: "Walk (TypeScript)",
    version: "1.0.0",
    repository: { url: "https://github.com/example/walk", source: "github" },
    packages: [{ registryType: "npm", identifier: "@example/walk-typescript", version: "1.0.0", transport: { type: "stdio" } }],
  };
  const published: ServerResponse = ok(
    await authed.POST("/registry/{registry}/v0.1/publish", { params: { path: { registry: managed } }, body: document }),
    `publish into ${managed}`,
  );
  check(isDeepStrictEqual(published.server, document), `publish answered another document: ${JSON.stringify(published.server)}`);
  const back = ok(
    await authed.GET("/registry/{registry}/v0.1/servers/{serverName}/versions/{version}", {
      params: { path: { registry: managed, serverName: PUBLISHED_NAME, version: "1.0.0" } },
    }),
    `${PUBLISHED_NAME} from ${managed}`,
  );
  check(isDeepStrictEqual(back.server, document), `read back another document: ${JSON.stringify(back.server)}`);
  check(back._meta[OFFICIAL].isLatest, "the published version is not isLatest");

  console.log(
    `typescript client: ${rows.length} entries in ${pages} pages of ${LIMIT}; ${expectServer}: ${expectVersions} version(s), ` +
      `latest ${expectLatest}; missing server 404; ${names.length} sources; ` +
      `published ${PUBLISHED_NAME}@1.0.0 into ${managed} and read it back`,
  );
}

main().catch((e: unknown) => {
  const message = e instanceof Mismatch ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
  console.error(`walk.ts: FAIL: ${message}`);
  process.exit(1);
});

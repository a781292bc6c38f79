/* global process, console, fetch */
// The "client command" the conformance suite runs (under its own Node 22): it hands the
// scenario's server URL, name and context to the test process (GATEHOUSE_CONFORMANCE_RELAY),
// which runs a gateway as that server's OAuth client, and exits with the outcome.
const relay = process.env.GATEHOUSE_CONFORMANCE_RELAY;
const serverUrl = process.argv.at(-1);
if (relay === undefined || serverUrl === undefined) {
  console.error("usage: GATEHOUSE_CONFORMANCE_RELAY=<url> node relay-client.mjs <server-url>");
  process.exit(2);
}
const response = await fetch(relay, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({
    serverUrl,
    scenario: process.env.MCP_CONFORMANCE_SCENARIO ?? "",
    context: JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? "{}"),
  }),
});
const outcome = await response.json();
(outcome.ok ? console.log : console.error)(outcome.message);
process.exit(outcome.ok ? 0 : 1);

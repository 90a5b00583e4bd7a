// One node-vault call, as an application makes it: `node call.js <command> [json-args]`, where
// <command> is one of node-vault's named commands (`generateDatabaseCredentials`, `renew`, ...)
// or `read`/`write`/`list`/`delete` with args `{"path": ..., "data": ...}`. The client comes
// from VAULT_ADDR and VAULT_TOKEN, unchanged. Prints one JSON line: {"ok": <result>, "token":
// <the client's token after the call>} or {"error": {"message", "status", "body"}}.
'use strict';

const vault = require('node-vault')({
  endpoint: process.env.VAULT_ADDR,
  token: process.env.VAULT_TOKEN,
});

async function main() {
  const [command, json] = process.argv.slice(2);
  const args = json ? JSON.parse(json) : undefined;
  let result;
  if (['read', 'write', 'list', 'delete'].includes(command)) {
    result = command === 'write'
      ? await vault.write(args.path, args.data || {})
      : await vault[command](args.path);
  } else if (args === undefined) {
    result = await vault[command]();
  } else {
    result = await vault[command](args);
  }
  return { ok: result === undefined ? null : result, token: vault.token };
}

main()
  .then((out) => console.log(JSON.stringify(out)))
  .catch((err) => {
    const response = err.response || {};
    console.log(JSON.stringify({
      error: { message: err.message, status: response.statusCode, body: response.body },
    }));
  });

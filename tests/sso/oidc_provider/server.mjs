// A real OpenID Connect provider (panva/oidc-provider, certified) for the portal's SSO tests.
// Usage: node server.mjs <port> <redirect_uri>   — prints "ready <issuer>" when listening on 127.0.0.1.
// Accounts (any password): carol (group sd-agents), dave (group sd-admins), erin (no group).
import Provider from "oidc-provider";

const port = Number(process.argv[2] || 9400);
const redirectUri = process.argv[3] || "http://127.0.0.1:5000/login/oidc/test/callback";
const issuer = `http://127.0.0.1:${port}`;

const ACCOUNTS = {
  carol: { name: "Carol Agent", groups: ["sd-agents"] },
  dave: { name: "Dave Admin", groups: ["sd-admins"] },
  erin: { name: "Erin Nobody", groups: [] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: "portal",
    client_secret: "portal-test-secret",
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  pkce: { required: () => true },
  claims: { openid: ["sub"], profile: ["name", "preferred_username"], groups: ["groups"] },
  scopes: ["openid", "profile", "groups"],
  conformIdTokenClaims: false, // put the profile claims into the ID token too
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["portal-test-cookie-key"] },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: account.name, groups: account.groups };
      },
    };
  },
  async loadExistingGrant(ctx) {
    // First-party client: consent is implied, so the only interaction is the login form.
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid profile groups");
    grant.addOIDCClaims(["name", "preferred_username", "groups"]);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

const server = provider.listen(port, "127.0.0.1", () => {
  console.log(`ready ${issuer}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));

# Accounts as the Hub shows them to a token holder: GET /api/whoami-v2 (hub-api.md section 1).
# Users, orgs and tokens come from the fixture (hub.py); ids are derived from names so they are
# stable across restarts. Token values are never written anywhere by this module.

import hashlib

from .http import json_response

TOKEN_CREATED_AT = "2024-01-01T00:00:00.000Z"  # fixture tokens carry no creation date


def stable_id(kind, name):
    """A 24-hex id (Mongo ObjectId shape) that depends only on the account's kind and name."""
    return hashlib.sha1(("%s:%s" % (kind, name)).encode()).hexdigest()[:24]


def avatar_url(hub, kind, name):
    return "%s/avatars/%s.svg" % (hub.base_url or "", stable_id(kind, name))


def org_entry(hub, name):
    org = hub.orgs.get(name, {"name": name, "fullname": name})
    return {
        "type": "org",
        "id": stable_id("org", name),
        "name": org["name"],
        "fullname": org.get("fullname", name),
        "email": org.get("email"),
        "canPay": bool(org.get("canPay", False)),
        "avatarUrl": avatar_url(hub, "org", name),
        "periodEnd": org.get("periodEnd"),
        "roleInOrg": "admin",
    }


def whoami(hub, req):
    hub.require_auth(req)
    hub.charge(req, "whoami")  # the Hub keeps a strict, separate limit here; off unless configured
    u = req.user
    t = req.token_info
    return json_response({
        "type": "user",
        "id": stable_id("user", u["name"]),
        "name": u["name"],
        "fullname": u.get("fullname", u["name"]),
        "email": u.get("email", "%s@users.noreply.localhost" % u["name"]),
        "emailVerified": bool(u.get("emailVerified", True)),
        "isPro": bool(u.get("isPro", False)),
        "canPay": bool(u.get("canPay", False)),
        "avatarUrl": avatar_url(hub, "user", u["name"]),
        "periodEnd": u.get("periodEnd"),
        "billingMode": u.get("billingMode", "postpaid"),
        "orgs": [org_entry(hub, o) for o in u.get("orgs", [])],
        "auth": {
            "type": "access_token",
            "accessToken": {
                "displayName": t.get("displayName", t["role"]),
                "role": t["role"],
                "createdAt": t.get("createdAt", TOKEN_CREATED_AT),
            },
        },
    })


def register(hub):
    hub.router.add("GET", "/api/whoami-v2", lambda req: whoami(hub, req))

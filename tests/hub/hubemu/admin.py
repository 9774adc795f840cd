# Test-only routes under /_hubd (a prefix no Hub route uses): request counters, fault injection,
# the simulated clock, rate-limit quotas, emulator settings, and Space runtime controls (sleep,
# forced stage, extra log lines). Not counted, not rate limited, never faulted (http.py).

import json
import os

from .http import HubError, json_response

P = "/_hubd"


def _clock_path(hub):
    return os.path.join(hub.state_dir, "clock.json")


def _load_clock(hub):
    """Simulated time is part of the state: Space timestamps were taken on it."""
    try:
        with open(_clock_path(hub)) as f:
            hub.clock.advance(float(json.load(f).get("offset", 0)))
    except (OSError, ValueError):
        pass


def _save_clock(hub):
    p = _clock_path(hub)
    with open(p + ".tmp", "w") as f:
        json.dump({"offset": hub.clock.offset}, f)
    os.replace(p + ".tmp", p)


def _body(req):
    b = req.json()
    if not isinstance(b, dict):
        raise HubError(400, "JSON object expected")
    return b


def stats_get(hub, req):
    return json_response(hub.counters.snapshot())


def stats_reset(hub, req):
    hub.counters.reset()
    return json_response({})


def faults_add(hub, req):
    b = _body(req)
    if b.get("action", "status") not in ("status", "reset", "truncate", "stall", "latency"):
        raise HubError(400, "action must be one of status, reset, truncate, stall, latency")
    try:
        return json_response(hub.faults.add(b))
    except Exception as e:  # a bad path regex
        raise HubError(400, "bad fault rule: %s" % e)


def faults_list(hub, req):
    return json_response(hub.faults.list())


def faults_clear(hub, req):
    hub.faults.clear()
    return json_response({})


def clock_get(hub, req):
    return json_response({"now": hub.clock.now(), "offset": hub.clock.offset})


def clock_post(hub, req):
    b = _body(req)
    adv = b.get("advance")
    if not isinstance(adv, (int, float)) or isinstance(adv, bool) or adv < 0:
        raise HubError(400, '"advance" must be a non-negative number of seconds')
    hub.clock.advance(adv)
    _save_clock(hub)
    return clock_get(hub, req)


def ratelimit_get(hub, req):
    with hub.ratelimit.lock:
        return json_response(dict(hub.ratelimit.policies))


def ratelimit_post(hub, req):
    b = _body(req)
    bucket = b.get("bucket") or "api"
    quota, window = b.get("quota"), b.get("window", 300)
    if quota is not None and (not isinstance(quota, int) or quota < 0 or not isinstance(window, int)
                              or window <= 0):
        raise HubError(400, '"quota" must be an integer >= 0 (or null to remove) and "window" > 0')
    hub.ratelimit.configure(bucket, quota, window)
    return ratelimit_get(hub, req)


def config_get(hub, req):
    return json_response({"boot_seconds": hub.boot_seconds, "log_keepalive_seconds": hub.log_keepalive_seconds})


def config_post(hub, req):
    b = _body(req)
    for k in ("boot_seconds", "log_keepalive_seconds"):
        if k in b:
            v = b[k]
            if not isinstance(v, (int, float)) or v < 0:
                raise HubError(400, "%s must be a non-negative number" % k)
            setattr(hub, k, float(v))
    return config_get(hub, req)


def network_get(hub, req):
    return json_response(hub.net.snapshot())


def network_post(hub, req):
    b = _body(req)
    try:
        outage = b.pop("outage", None)
        hub.net.configure(b)
        if outage is not None:
            hub.net.set_outage(outage)
    except ValueError as e:
        raise HubError(400, str(e))
    return network_get(hub, req)


def tokens_post(hub, req):
    """Issue or revoke an access token at run time, as a user does in the Hub's settings:
    {"add": {"value", "user", "role"?, "displayName"?}} or {"revoke": value}. A revoked token
    gets the Hub's 401 ("Invalid credentials in Authorization header") from then on. Answers
    the count of tokens, never a value."""
    b = _body(req)
    add, revoke = b.get("add"), b.get("revoke")
    if add is not None:
        if not isinstance(add, dict) or not isinstance(add.get("value"), str) or not add["value"]:
            raise HubError(400, '"add" needs "value" and "user"')
        if add.get("user") not in hub.users:
            raise HubError(400, "no such user")
        role = add.get("role", "read")
        if role not in ("read", "write"):
            raise HubError(400, 'role must be "read" or "write"')
        hub.tokens[add["value"]] = {"user": add["user"], "role": role,
                                    "displayName": add.get("displayName", role)}
    if revoke is not None:
        if not isinstance(revoke, str) or revoke not in hub.tokens:
            raise HubError(400, "no such token")
        del hub.tokens[revoke]
    if add is None and revoke is None:
        raise HubError(400, 'give "add" or "revoke"')
    hub._save_accounts()
    return json_response({"tokens": len(hub.tokens)})


def _space(hub, req):
    repo = hub.repos.get("space", req.params["ns"], req.params["name"])
    if repo is None:
        raise HubError(404, "Repository not found", "RepoNotFound")
    if hub.space_runtime.is_static(repo):
        raise HubError(400, "static Spaces have no runtime")
    return repo


def space_sleep(hub, req):
    repo = _space(hub, req)
    hub.space_runtime.sleep(repo)
    return json_response(hub.space_runtime.view(repo))


def space_stage(hub, req):
    from .spaces import STAGES

    repo = _space(hub, req)
    b = _body(req)
    if b.get("stage") not in STAGES:
        raise HubError(400, '"stage" must be one of [%s]' % ", ".join(STAGES))
    hub.space_runtime.force(repo, b["stage"], b.get("errorMessage"))
    return json_response(hub.space_runtime.view(repo))


def space_logs(hub, req):
    repo = _space(hub, req)
    kind = req.params["kind"]
    if kind not in ("build", "run"):
        raise HubError(404, "log kind is build or run")
    lines = _body(req).get("lines")
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise HubError(400, '"lines" must be a list of strings')
    hub.space_runtime.append_logs(repo, kind, lines)
    return json_response({"appended": len(lines)})


def register(hub):
    def h(f):
        return lambda req: f(hub, req)

    _load_clock(hub)
    r = hub.router
    r.add("GET", P + "/stats", h(stats_get))
    r.add("DELETE", P + "/stats", h(stats_reset))
    r.add("POST", P + "/faults", h(faults_add))
    r.add("GET", P + "/faults", h(faults_list))
    r.add("DELETE", P + "/faults", h(faults_clear))
    r.add("GET", P + "/clock", h(clock_get))
    r.add("POST", P + "/clock", h(clock_post))
    r.add("GET", P + "/ratelimit", h(ratelimit_get))
    r.add("POST", P + "/ratelimit", h(ratelimit_post))
    r.add("GET", P + "/config", h(config_get))
    r.add("POST", P + "/config", h(config_post))
    r.add("GET", P + "/network", h(network_get))
    r.add("POST", P + "/network", h(network_post))
    r.add("POST", P + "/tokens", h(tokens_post))
    r.add("POST", P + "/spaces/{ns}/{name}/sleep", h(space_sleep))
    r.add("POST", P + "/spaces/{ns}/{name}/stage", h(space_stage))
    r.add("POST", P + "/spaces/{ns}/{name}/logs/{kind}", h(space_logs))

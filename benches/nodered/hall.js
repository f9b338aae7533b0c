// The body of the comparison flow's one function node (BENCHMARKS.md).
//
// It keeps what hallwatch keeps for the benchmark's citizen cycle: per hall,
// each service's waiting tickets and daily sequence, each window's staff,
// status and current ticket, the last ten calls and which tickets were
// rated. It answers every device message on its reply topic, as hallwatch
// does (a message seen before gets its first answer again), and emits the
// display frames hallwatch emits, field for field: `queue`, `call`,
// `window`, and a `snapshot` to a screen that says hello.
//
// Inputs: MQTT messages (kiosk requests, window commands, ratings) and
// WebSocket messages from screens (which carry `_session`).
// Output 1: replies for mqtt out. Output 2 + i: frames for the websocket out
// of the i-th hall of HALLS_JSON, so each hall's screens get only its own.

function localTime() {
    return new Date(Date.now() + 8 * 3600 * 1000).toISOString().replace("Z", "+08:00");
}

function load() {
    const halls = new Map();
    for (const [index, h] of JSON.parse(env.get("HALLS_JSON") || "[]").entries()) {
        const services = new Map();
        for (const s of h.services) {
            services.set(s.code, { code: s.code, name: s.name, prefix: s.prefix, seq: 0, waiting: [] });
        }
        const windows = new Map();
        for (const w of h.windows) {
            windows.set(w.id, {
                id: w.id, name: w.name, zone: null, kind: "comprehensive", status: "offline",
                ticket: null, staff: null, staff_name: null, since: localTime(), services: w.services,
                current: null, lastFinished: null,
            });
        }
        halls.set(h.id, { id: h.id, index, services, windows, calls: [], rated: new Set(), answered: new Map(), issued: 0 });
    }
    return halls;
}

let halls = context.get("halls");
if (!halls) {
    halls = load();
    context.set("halls", halls);
}

function windowView(w) {
    return {
        id: w.id, name: w.name, zone: w.zone, kind: w.kind, status: w.status, ticket: w.ticket,
        staff: w.staff, staff_name: w.staff_name, since: w.since, services: w.services,
    };
}

function queueView(s) {
    return { service: s.code, name: s.name, prefix: s.prefix, waiting: s.waiting.length };
}

// The node's outputs: the reply, then each hall's frames.
function outputs(hall, reply, frames) {
    const out = new Array(1 + halls.size).fill(null);
    out[0] = reply;
    out[1 + hall.index] = frames;
    return out;
}

function frame(type, body) {
    return { payload: JSON.stringify(Object.assign({ type }, body)) };
}

function snapshot(hall) {
    return {
        hall: { id: hall.id, name: hall.id, level: "county" },
        date: localTime().slice(0, 10),
        windows: [...hall.windows.values()].map(windowView),
        queues: [...hall.services.values()].map(queueView),
        calls: hall.calls,
        at: localTime(),
    };
}

// A screen said hello with its hall's id: its snapshot, to it alone.
if (msg._session) {
    const hall = halls.get(String(msg.payload).trim());
    if (!hall) {
        return null;
    }
    const out = frame("snapshot", snapshot(hall));
    out._session = msg._session;
    return outputs(hall, null, out);
}

const parts = String(msg.topic).split("/");
const [, hallId, kind, device, leaf] = parts;
const hall = halls.get(hallId);
const key = { kiosk: "request", window: "command", rater: "rating" }[kind];
if (!hall || !key || parts.length !== 5) {
    return null;
}
const replyTopic = parts.slice(0, 4).concat("reply").join("/");
let body;
try {
    body = JSON.parse(msg.payload);
} catch (e) {
    return outputs(hall, { topic: replyTopic, payload: JSON.stringify({ ok: false, error: "bad_json", message: "消息不是 JSON" }) }, null);
}
const id = typeof body.id === "string" ? body.id : null;
if (id && hall.answered.has(id)) {
    return outputs(hall, { topic: replyTopic, payload: hall.answered.get(id) }, null);
}

const frames = [];
function answer(fields) {
    const payload = JSON.stringify(Object.assign({ [key]: id }, fields));
    if (id) {
        hall.answered.set(id, payload);
    }
    return outputs(hall, { topic: replyTopic, payload }, frames);
}
function refuse(error, message) {
    return answer({ ok: false, error, message });
}

if (kind === "kiosk" && leaf === "request") {
    const s = hall.services.get(body.service);
    if (!s) {
        return refuse("unknown_service", `服务类别 ${body.service} 不存在`);
    }
    s.seq += 1;
    hall.issued += 1;
    const ticket = s.prefix + String(s.seq).padStart(3, "0");
    const ahead = s.waiting.length;
    s.waiting.push({ ticket, service: s.code, order: hall.issued });
    frames.push(frame("queue", queueView(s)));
    return answer({
        ok: true, ticket, service: s.code, service_name: s.name, waiting_ahead: ahead,
        estimated_wait_s: ahead * 600, issued_at: localTime(),
    });
}

if (kind === "rater" && leaf === "rating") {
    const w = hall.windows.get(device);
    if (!w) {
        return null;
    }
    const ticket = body.ticket || w.lastFinished;
    if (!ticket || ticket !== w.lastFinished) {
        return refuse("unknown_ticket", `号码 ${ticket} 未在本窗口办结，不能评价`);
    }
    if (hall.rated.has(ticket)) {
        return refuse("already_rated", `号码 ${ticket} 已评价，一事一评`);
    }
    hall.rated.add(ticket);
    return answer({ ok: true, ticket, score: body.score });
}

if (kind !== "window" || leaf !== "command") {
    return null;
}
const w = hall.windows.get(device);
if (!w) {
    return null;
}
function changed() {
    w.since = localTime();
    frames.push(frame("window", windowView(w)));
}
switch (body.op) {
    case "login":
        w.staff = body.staff;
        w.staff_name = body.staff_name || null;
        w.status = "idle";
        changed();
        return answer({ ok: true, ticket: null });
    case "call_next": {
        if (w.status === "offline") {
            return refuse("not_logged_in", "窗口未登录");
        }
        if (w.current) {
            return refuse("busy", "窗口正在办理");
        }
        // The ticket that has waited longest among the services this window serves.
        let from = null;
        for (const code of w.services) {
            const s = hall.services.get(code);
            if (s && s.waiting.length && (!from || s.waiting[0].order < from.waiting[0].order)) {
                from = s;
            }
        }
        if (!from) {
            return answer({ ok: true, ticket: null });
        }
        const t = from.waiting.shift();
        w.current = t;
        w.ticket = t.ticket;
        w.status = "calling";
        const call = {
            ticket: t.ticket, window: w.id, window_name: w.name, service: from.code,
            service_name: from.name, at: localTime(), recall: false,
        };
        hall.calls.unshift(call);
        hall.calls.length = Math.min(hall.calls.length, 10);
        frames.push(frame("call", call));
        changed();
        frames.push(frame("queue", queueView(from)));
        return answer({ ok: true, ticket: t.ticket });
    }
    case "start":
        if (w.status !== "calling") {
            return refuse("no_current_ticket", "没有正在呼叫的号码");
        }
        w.status = "serving";
        changed();
        return answer({ ok: true, ticket: w.ticket });
    case "finish": {
        if (!w.current) {
            return refuse("no_current_ticket", "没有正在办理的号码");
        }
        const done = w.ticket;
        w.lastFinished = done;
        w.current = null;
        w.ticket = null;
        w.status = "idle";
        changed();
        return answer({ ok: true, ticket: done });
    }
    default:
        // The benchmark drives only the ops above.
        return refuse("unknown_op", `不支持的操作 ${body.op}`);
}

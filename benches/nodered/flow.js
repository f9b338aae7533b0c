// Writes the comparison flow (flow.json) to stdout: three MQTT inputs and
// the screens' WebSocket input into one function node (hall.js) that keeps
// the halls' state, its replies to MQTT and its frames to the screens.
//
// The broker comes from MQTT_HOST and MQTT_PORT, the halls from HALLS_JSON
// (read by the function node when Node-RED starts).
const fs = require("fs");
const path = require("path");

const func = fs.readFileSync(path.join(__dirname, "hall.js"), "utf8");
const halls = JSON.parse(process.env.HALLS_JSON || "[]");
const tab = "hall-tab";

const nodes = [
    { id: tab, type: "tab", label: "hall" },
    {
        id: "broker", type: "mqtt-broker", name: "bench", broker: "${MQTT_HOST}", port: "${MQTT_PORT}",
        clientid: "nodered-hall", autoConnect: true, usetls: false, protocolVersion: "4", keepalive: "60",
        cleansession: true, birthTopic: "", closeTopic: "", willTopic: "",
    },
    {
        id: "hall", type: "function", z: tab, name: "hall state", func, outputs: 1 + halls.length, timeout: 0,
        noerr: 0, initialize: "", finalize: "", libs: [], wires: [["replies"], ...halls.map((_, i) => [`ws-out-${i}`])],
    },
    { id: "replies", type: "mqtt out", z: tab, name: "replies", topic: "", qos: "1", retain: "false", broker: "broker", wires: [] },
];
for (const [i, topic] of ["hallwatch/+/kiosk/+/request", "hallwatch/+/window/+/command", "hallwatch/+/rater/+/rating"].entries()) {
    nodes.push({
        id: `in-${i}`, type: "mqtt in", z: tab, name: topic, topic, qos: "1", datatype: "utf8", broker: "broker",
        nl: false, rap: false, inputs: 0, wires: [["hall"]],
    });
}
// Each hall's display path: a screen's hello comes in, the hall's frames
// go out to every screen on it.
halls.forEach((h, i) => {
    nodes.push(
        { id: `ws-${i}`, type: "websocket-listener", path: `/ws/display/${h.id}`, wholemsg: "false" },
        { id: `ws-in-${i}`, type: "websocket in", z: tab, name: h.id, server: `ws-${i}`, client: "", wires: [["hall"]] },
        { id: `ws-out-${i}`, type: "websocket out", z: tab, name: h.id, server: `ws-${i}`, client: "", wires: [] },
    );
});
// Nodes on the tab need a position to be taken as flow nodes, not config.
nodes.forEach((n, i) => {
    if (n.z) {
        Object.assign(n, { x: 200, y: 40 * (i + 1) });
    }
});
process.stdout.write(JSON.stringify(nodes, null, 1));

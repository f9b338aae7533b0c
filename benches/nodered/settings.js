// Node-RED settings for the comparison flow: loopback only, no editor, no
// admin API, warnings only in the log. The port comes from NODE_RED_PORT.
module.exports = {
    uiHost: "127.0.0.1",
    uiPort: Number(process.env.NODE_RED_PORT || 1880),
    httpAdminRoot: false,
    httpNodeRoot: "/",
    credentialSecret: false,
    flowFilePretty: false,
    logging: { console: { level: "warn", metrics: false, audit: false } },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    functionExternalModules: false,
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
};

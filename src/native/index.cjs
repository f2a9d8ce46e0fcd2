// Loads the addon on first use. Kept in CommonJS so the bundler (ncc) sees a static require
// of the .node file and ships it; lazy so that loading the kernel layer (and the build's
// startup snapshot) does not load it. src/kernel/ is the only importer.
let addon;
const load = () => {
  addon ??= require('./build/Release/manifold_native.node');
  return addon;
};
exports.setns = (fd, nstype) => load().setns(fd, nstype);
exports.flock = (fd, op) => load().flock(fd, op);
exports.packetOpen = (ifindex, protocol) => load().packetOpen(ifindex, protocol);
exports.packetSend = (fd, ifindex, protocol, dst, payload) =>
  load().packetSend(fd, ifindex, protocol, dst, payload);
exports.packetRecv = (fd) => load().packetRecv(fd);
exports.packetWait = (fds, timeoutMs) => load().packetWait(fds, timeoutMs);
exports.packetWaitAsync = (fds, timeoutMs) => load().packetWaitAsync(fds, timeoutMs);
exports.flockWait = (fd, op, timeoutMs) => load().flockWait(fd, op, timeoutMs);
exports.flockWaitAsync = (fd, op, timeoutMs) => load().flockWaitAsync(fd, op, timeoutMs);
exports.nlOpen = (protocol, nsfd) => load().nlOpen(protocol, nsfd);
exports.nlRequest = (fd, msg, seq) => load().nlRequest(fd, msg, seq);
exports.nlRequestAsync = (fd, msg, seq) => load().nlRequestAsync(fd, msg, seq);
exports.nlClose = (fd) => load().nlClose(fd);
exports.nlDumpRetries = () => load().nlDumpRetries();
// Only when the addon is loaded already (a call that used the kernel): never loaded to exit.
exports.exitNowIfLoaded = (code) => {
  if (addon) addon.exitNow(code);
};

// The netlink package's socket layer (not its index, which loads nl80211/wg/genl code this
// project never uses: 30 ms against 8 ms). Required on first use, which also loads its
// native binding. src/kernel/socket.ts is the only importer.
let mod;
exports.createNetlink = (protocol, options) => {
  mod ??= require('netlink/dist/netlink.js');
  return mod.createNetlink(protocol, options);
};

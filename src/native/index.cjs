// Loads the addon. Kept in CommonJS so the bundler (ncc) sees a static require of the .node
// file and ships it; src/kernel/ is the only importer.
module.exports = require('./build/Release/manifold_native.node');

// Preloaded into the Portkey gateway by bench/run (node --require): its
// start script has the server listen on a port alone, which is every
// interface; the benchmark keeps all its servers on 127.0.0.1.

'use strict';

const net = require('net');

const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
    if (typeof args[0] === 'number') {
        // listen(port), listen(port, cb), listen(port, undefined, ...)
        if (args.length === 1 || typeof args[1] === 'function') {
            args.splice(1, 0, '127.0.0.1');

        } else if (args[1] === undefined || args[1] === null) {
            args[1] = '127.0.0.1';
        }

    } else if (args[0] !== null && typeof args[0] === 'object'
               && args[0].port !== undefined && !args[0].host)
    {
        args[0] = Object.assign({}, args[0], { host: '127.0.0.1' });
    }

    return listen.apply(this, args);
};

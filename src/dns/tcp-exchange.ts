import net from 'node:net';

/** What one DNS exchange over TCP got: the answer's bytes, or why none. */
export type TcpExchange =
  | { kind: 'answer'; packet: Buffer }
  | { kind: 'timeout' }
  /** The connection was refused: nothing listens there. */
  | { kind: 'refused' }
  | { kind: 'error'; message: string };

/**
 * One query over one TCP connection (2-byte length prefix, RFC 1035 4.2.2). Never throws: a
 * server that is silent, refuses or closes early is a result. The connection is closed after.
 */
export function tcpExchange(host: string, port: number, query: Buffer, timeoutMs: number): Promise<TcpExchange> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (r: TcpExchange) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    sock.on('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'error', message: err.message }));
    sock.on('close', () => finish({ kind: 'error', message: 'the connection was closed without an answer' }));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length, 0);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish({ kind: 'answer', packet: buf.subarray(2, 2 + buf.readUInt16BE(0)) });
    });
  });
}

/** SSLRequest and GSSENCRequest codes: the server answers them with one unframed byte. */
const ENCRYPTION_REQUESTS = new Set([80877103, 80877104]);

/**
 * Counts PostgreSQL protocol messages in one direction of one connection, whatever the chunking: the client
 * side starts with untyped startup packets (length, then code), every other message is a type byte and a
 * length that counts itself.
 */
export class MessageCounter {
  /** Complete messages seen. */
  messages = 0;
  /** Parse messages seen (client side: a statement the server parses and plans again). */
  parses = 0;
  readonly #fromClient: boolean;
  #untyped: boolean;
  /** Unframed single bytes still expected (the server's answer to an encryption request). */
  #rawBytes = 0;
  readonly #header = Buffer.alloc(8);
  #headerHave = 0;
  #bodyLeft = 0;
  /** Called on the client side when it asks for encryption; the server side then skips one byte. */
  onEncryptionRequest: (() => void) | undefined;

  constructor(fromClient: boolean) {
    this.#fromClient = fromClient;
    this.#untyped = fromClient;
  }

  /** The other direction asked for encryption: its answer is one unframed byte. */
  expectRawByte(): void {
    this.#rawBytes++;
  }

  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#bodyLeft > 0) {
        const take = Math.min(this.#bodyLeft, chunk.length - at);
        this.#bodyLeft -= take;
        at += take;
        if (this.#bodyLeft === 0) this.messages++;
        continue;
      }
      if (this.#rawBytes > 0 && this.#headerHave === 0) {
        this.#rawBytes--;
        at++;
        continue;
      }
      const headerSize = this.#untyped ? 8 : 5;
      const take = Math.min(headerSize - this.#headerHave, chunk.length - at);
      chunk.copy(this.#header, this.#headerHave, at, at + take);
      this.#headerHave += take;
      at += take;
      if (this.#headerHave < headerSize) continue;
      this.#headerHave = 0;
      if (this.#untyped) {
        const length = this.#header.readInt32BE(0);
        const code = this.#header.readInt32BE(4);
        this.#bodyLeft = length - 8;
        if (ENCRYPTION_REQUESTS.has(code)) this.onEncryptionRequest?.();
        else if (this.#fromClient) this.#untyped = false;
      } else {
        this.#bodyLeft = this.#header.readInt32BE(1) - 4;
        if (this.#fromClient && this.#header[0] === 0x50 /* 'P' */) this.parses++;
      }
      if (this.#bodyLeft === 0) this.messages++;
    }
  }
}

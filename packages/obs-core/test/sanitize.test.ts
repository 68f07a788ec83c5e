import { describe, expect, it } from 'vitest';
import { createRedactor } from '../src/redact.js';
import { createSanitizer, safeStringify, truncate } from '../src/sanitize.js';

const sanitize = createSanitizer();
/** Every result must survive a JSON round trip unchanged. */
function clean(value: unknown) {
  const out = sanitize(value);
  const text = JSON.stringify(out);
  expect(typeof text).toBe('string');
  expect(JSON.parse(text)).toEqual(out);
  return out as any;
}

describe('createSanitizer: bad input becomes valid JSON, never an exception', () => {
  it('cycles', () => {
    const a: any = { name: 'a', list: [] };
    a.self = a;
    a.list.push(a, { back: a });
    expect(clean(a)).toEqual({
      name: 'a',
      list: ['[Circular]', { back: '[Circular]' }],
      self: '[Circular]',
    });
    const shared = { x: 1 };
    expect(clean({ a: shared, b: shared })).toEqual({ a: { x: 1 }, b: { x: 1 } });
  });

  it('BigInt', () => {
    expect(clean({ small: 42n, big: 2n ** 80n })).toEqual({
      small: 42,
      big: '1208925819614629174706176',
    });
  });

  it('undefined, functions and symbols', () => {
    expect(
      clean({
        u: undefined,
        f: function named() {},
        a: () => 1,
        s: Symbol('tag'),
        list: [undefined],
      }),
    ).toEqual({
      f: '[Function: named]',
      a: '[Function: a]',
      s: 'Symbol(tag)',
      list: [null],
    });
    expect(clean(undefined)).toBeNull();
  });

  it('NaN and Infinity', () => {
    expect(
      clean({ a: Number.NaN, b: Number.POSITIVE_INFINITY, c: Number.NEGATIVE_INFINITY, d: -0 }),
    ).toEqual({
      a: 'NaN',
      b: 'Infinity',
      c: '-Infinity',
      d: 0,
    });
  });

  it('Dates, valid and invalid', () => {
    expect(clean({ d: new Date(0), bad: new Date(Number.NaN) })).toEqual({
      d: '1970-01-01T00:00:00.000Z',
      bad: 'Invalid Date',
    });
  });

  it('Errors with a cause and extra fields', () => {
    const error = Object.assign(new TypeError('outer', { cause: new Error('inner') }), {
      code: 'E_OUTER',
      status: 503,
    });
    const out = clean({ error });
    expect(out.error).toMatchObject({
      name: 'TypeError',
      message: 'outer',
      code: 'E_OUTER',
      status: 503,
    });
    expect(out.error.cause).toMatchObject({ name: 'Error', message: 'inner' });
    expect(typeof out.error.stack).toBe('string');
  });

  it('Map and Set', () => {
    const out = clean({
      m: new Map<unknown, unknown>([
        ['a', 1],
        [2, { b: true }],
        ['token', 'secret-value'],
      ]),
      s: new Set([1, 'two']),
    });
    expect(out).toEqual({ m: { a: 1, '2': { b: true }, token: '[REDACTED]' }, s: [1, 'two'] });
  });

  it('Buffers and typed arrays', () => {
    expect(
      clean({
        b: Buffer.from('hello'),
        u: new Uint16Array(4),
        ab: new ArrayBuffer(8),
        dv: new DataView(new ArrayBuffer(2)),
      }),
    ).toEqual({
      b: '[Buffer: 5 bytes]',
      u: '[Uint16Array: 8 bytes]',
      ab: '[ArrayBuffer: 8 bytes]',
      dv: '[DataView: 2 bytes]',
    });
  });

  it('getters and Proxies that throw', () => {
    const getter = Object.defineProperty({ ok: 1 }, 'bad', {
      enumerable: true,
      get: () => {
        throw new Error('nope');
      },
    });
    const proxy = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('keys trap');
        },
        get: () => {
          throw new Error('get trap');
        },
      },
    );
    const out = clean({ getter, proxy, list: [proxy] });
    expect(out.getter).toEqual({ ok: 1, bad: '[Thrown: nope]' });
    expect(out.proxy).toMatch(/^\[Unserializable: /);
    expect(out.list[0]).toMatch(/^\[Unserializable: /);
    const toJSONThrows = {
      toJSON() {
        throw new Error('toJSON broke');
      },
    };
    expect(clean({ t: toJSONThrows }).t).toMatch(/Unserializable: toJSON broke/);
  });

  it('what a throwing getter or Proxy said is redacted before it is kept', () => {
    const sanitize = createSanitizer();
    const thrower = (message: string) => () => {
      throw new Error(message);
    };
    const token = 'Bearer abcdefghijklmnopqrstuvwxyz0123456789';
    const value = {
      get conn() {
        return thrower('connect https://bob:hunter2pw@db.local:5432 failed')();
      },
      list: new Proxy([1], { get: thrower(`denied for ${token}`) }),
      proxy: new Proxy({}, { ownKeys: thrower('no keys for https://ann:s3cretpw@api.local/x') }),
      odd: Object.defineProperty({}, 'x', {
        enumerable: true,
        get: thrower(`lone \ud800 surrogate ${'y'.repeat(300)}`),
      }),
    };
    const out = sanitize(value) as Record<string, unknown>;
    const text = JSON.stringify(out);
    expect(text).not.toContain('hunter2pw');
    expect(text).not.toContain('s3cretpw');
    expect(text).not.toContain('abcdefghijklmnopqrstuvwxyz0123456789');
    expect(out.conn).toBe('[Thrown: connect https://[REDACTED]@db.local:5432 failed]');
    expect(String(out.proxy)).toMatch(/^\[Unserializable: .*\[REDACTED\]@api\.local/);
    const odd = (out.odd as { x: string }).x;
    expect(odd.length).toBeLessThanOrEqual('[Thrown: ]'.length + 200);
    expect((odd as string & { isWellFormed(): boolean }).isWellFormed()).toBe(true);
  });

  it('a 20 MB string is cut to the cap, with a marker', () => {
    const out = clean({ s: 'a'.repeat(20 * 1024 * 1024) });
    expect(out.s.length).toBeLessThan(262_144 + 40);
    expect(out.s.endsWith(`…[truncated ${20 * 1024 * 1024 - 262_144} chars]`)).toBe(true);
  });

  it('10,000-deep nesting stops at maxDepth', () => {
    let deep: any = { leaf: true };
    for (let i = 0; i < 10_000; i++) deep = { next: deep };
    let out = clean(deep);
    let depth = 0;
    while (typeof out === 'object' && out !== null) {
      out = out.next;
      depth++;
    }
    expect(out).toBe('[MaxDepth]');
    expect(depth).toBe(32);
    let arrays: any = [];
    for (let i = 0; i < 10_000; i++) arrays = [arrays];
    expect(() => clean(arrays)).not.toThrow();
  });

  it('lone surrogates become U+FFFD; cutting never splits a pair', () => {
    expect(clean({ s: 'a\ud800b\udc00' }).s).toBe('a\ufffdb\ufffd');
    const pair = '😀'.repeat(10);
    const cut = truncate(pair, 5);
    expect(cut.startsWith('😀😀')).toBe(true);
    expect((cut as any).isWellFormed()).toBe(true);
  });

  it('huge arrays and objects are summarised', () => {
    const s = createSanitizer({ maxArrayLength: 3, maxObjectKeys: 2 });
    expect(s([1, 2, 3, 4, 5])).toEqual([1, 2, 3, '…[2 more items]']);
    expect(s({ a: 1, b: 2, c: 3 })).toEqual({ a: 1, b: 2, '…': '[1 more keys]' });
  });

  it('class instances keep their own fields; toJSON is honoured', () => {
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
    }
    expect(clean({ p: new Point(1, 2), j: { toJSON: () => ({ v: 1 }) } })).toEqual({
      p: { x: 1, y: 2 },
      j: { v: 1 },
    });
  });

  it('safeStringify never throws', () => {
    const a: any = {};
    a.a = a;
    expect(JSON.parse(safeStringify({ a, n: 1n }))).toEqual({ a: { a: '[Circular]' }, n: 1 });
    expect(safeStringify(undefined)).toBe('null');
  });
});

describe('redaction', () => {
  const red = createRedactor({ env: {} });
  it('matches secret words, not substrings', () => {
    for (const key of [
      'api_key',
      'apiKey',
      'X-Api-Key',
      'password',
      'db_passwd',
      'client_secret',
      'accessToken',
      'refresh-token',
      'Authorization',
      'auth',
      'cookie',
      'private_key',
      'AWS_SECRET_ACCESS_KEY',
    ]) {
      expect(red.isSecretKey(key), key).toBe(true);
    }
    for (const key of [
      'input_tokens',
      'max_tokens',
      'outputTokens',
      'author',
      'keyboard',
      'monkey',
      'key',
      'cache_key',
      'session_id',
      'tokenizer',
    ]) {
      expect(red.isSecretKey(key), key).toBe(false);
    }
  });

  it('keeps numbers under secret-looking keys (counts, not credentials)', () => {
    const s = createSanitizer({}, red);
    expect(s({ token_count: 12, token: 'abc123xyz' })).toEqual({
      token_count: 12,
      token: '[REDACTED]',
    });
  });

  it('masks URL credentials, secret query parameters and bearer tokens in strings', () => {
    expect(red.redactString('postgres://admin:s3cret@db:5432/app')).toBe(
      'postgres://[REDACTED]@db:5432/app',
    );
    expect(red.redactString('GET https://h/x?api_key=abc123&page=2')).toBe(
      'GET https://h/x?api_key=[REDACTED]&page=2',
    );
    expect(red.redactString('Authorization: Bearer eyJ0eXAi.x.y')).toBe(
      'Authorization: Bearer [REDACTED]',
    );
    expect(red.redactString('a basic approach')).toBe('a basic approach');
    expect(red.redactString('ratio = 3 / 4')).toBe('ratio = 3 / 4');
  });

  it('custom keys and patterns; markers never contain the secret', () => {
    const custom = createRedactor({
      keys: ['customer_email', /^x-internal/i],
      patterns: [/sk-[a-z0-9]{8,}/g],
      env: {},
    });
    const s = createSanitizer({}, custom);
    const out = s({
      customerEmail: 'a@b.c',
      'X-Internal-Id': 'id-1',
      note: 'key sk-abcdefgh123 used',
    });
    expect(out).toEqual({
      customerEmail: '[REDACTED]',
      'X-Internal-Id': '[REDACTED]',
      note: 'key [REDACTED] used',
    });
  });

  it('scrubs remembered secrets and secret env values from diagnostics', () => {
    const scrubber = createRedactor({
      env: { LANGFUSE_SECRET_KEY: 'sk-lf-very-secret', HOME: '/root' },
    });
    createSanitizer({}, scrubber)({ password: 'remembered-pw' });
    expect(scrubber.scrub('bad key sk-lf-very-secret and remembered-pw in /root')).toBe(
      'bad key [REDACTED] and [REDACTED] in /root',
    );
  });
});

describe('redaction gaps: every secret is masked, ordinary data is kept', () => {
  const red = createRedactor({ env: {} });
  const s = createSanitizer({}, red);

  it('Map values under secret keys are masked like plain-object values', () => {
    const map = new Map<unknown, unknown>([
      ['password', ['MAP-PW-SECRET-1']],
      ['authorization', { value: 'MAP-AUTH-SECRET-2' }],
      ['api_key', 'MAP-KEY-SECRET-3'],
      ['token', 42],
      ['auth', true],
      ['secret', null],
      ['input_tokens', 7],
      ['name', 'visible'],
    ]);
    const out = clean({ m: map }).m;
    const text = JSON.stringify(out);
    for (const secret of ['MAP-PW-SECRET-1', 'MAP-AUTH-SECRET-2', 'MAP-KEY-SECRET-3']) {
      expect(text).not.toContain(secret);
    }
    expect(out).toEqual({
      password: '[REDACTED]',
      authorization: '[REDACTED]',
      api_key: '[REDACTED]',
      token: 42,
      auth: true,
      secret: null,
      input_tokens: 7,
      name: 'visible',
    });
    // the same keys in a plain object give the same result
    expect(clean({ m: Object.fromEntries(map) }).m).toEqual(out);
  });

  it('joined lower-case key names are secret; token counts are not', () => {
    for (const key of [
      'accesstoken',
      'apitoken',
      'refreshtoken',
      'authtoken',
      'idtoken',
      'ACCESSTOKEN',
      'xapikey',
      'awssecretkey',
      'clientsecret',
      'dbpassword',
    ]) {
      expect(red.isSecretKey(key), key).toBe(true);
    }
    for (const key of [
      'tokens',
      'input_tokens',
      'output_tokens',
      'total_tokens',
      'max_tokens',
      'maxtokens',
      'totaltokens',
      'inputtokens',
      'outputTokens',
      'tokenizer',
      'keyboard',
      'monkey',
      'cache_key',
      'author',
      'session_id',
    ]) {
      expect(red.isSecretKey(key), key).toBe(false);
    }
    expect(
      s({ accesstoken: 'AT-SECRET-1', refreshtoken: 'RT-SECRET-2', total_tokens: 99, tokens: 3 }),
    ).toEqual({
      accesstoken: '[REDACTED]',
      refreshtoken: '[REDACTED]',
      total_tokens: 99,
      tokens: 3,
    });
  });

  it('masks cloud, GitLab and generic key query parameters in URLs', () => {
    const cases: Array<[string, string]> = [
      [
        'https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIAEXAMPLE%2F2024&X-Amz-Security-Token=FwoGZXIvYXdzSECRET&X-Amz-Signature=abcdef0123SECRET&X-Amz-Expires=60',
        'https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=[REDACTED]&X-Amz-Security-Token=[REDACTED]&X-Amz-Signature=[REDACTED]&X-Amz-Expires=60',
      ],
      [
        'curl https://gitlab.example.com/api/v4/projects?private_token=glpat-SECRET123&page=2',
        'curl https://gitlab.example.com/api/v4/projects?private_token=[REDACTED]&page=2',
      ],
      ['https://h/x?api_token=APITOK-SECRET', 'https://h/x?api_token=[REDACTED]'],
      [
        'https://maps.example.com/geo?KEY=AIzaSECRETkey&q=paris',
        'https://maps.example.com/geo?KEY=[REDACTED]&q=paris',
      ],
      ['https://h/x?a=1&access_key=AK-SECRET', 'https://h/x?a=1&access_key=[REDACTED]'],
      ['https://h/x?sig=SIG-SECRET&sv=2022', 'https://h/x?sig=[REDACTED]&sv=2022'],
    ];
    for (const [input, expected] of cases) {
      expect(red.redactString(input)).toBe(expected);
      expect(s({ line: input })).toEqual({ line: expected });
    }
  });

  it('does not mask ordinary query parameters or code with = signs', () => {
    for (const text of [
      'https://h/search?q=token&page=2&keyword=x&monkey=1&cache_key=k1',
      'GET /items?limit=10&offset=20',
      'values = [math.sqrt(i) for i in range(100)]',
      'if (a && b == c) x = y ? 1 : 2',
      'ratio = 3 / 4',
    ]) {
      expect(red.redactString(text)).toBe(text);
    }
  });

  it('masks letter-only bearer and basic credentials of 20+ letters', () => {
    expect(red.redactString('Authorization: Bearer abcdefghijklmnopQRSTUVWXsecretonly')).toBe(
      'Authorization: Bearer [REDACTED]',
    );
    expect(red.redactString('basic QWxhZGRpbjpvcGVuIHNlc2FtZQsecret rest')).toBe(
      'basic [REDACTED] rest',
    );
    // the scrubbed diagnostics text shares the patterns
    expect(red.scrub('401 for Bearer ZYXWVUTSRQPONMLKJIHGFEDCBAzyx')).toBe(
      '401 for Bearer [REDACTED]',
    );
  });

  it('does not mask prose after Bearer or Basic', () => {
    for (const text of [
      'send a Bearer token in the header',
      'basic auth is disabled',
      'Basic authentication failed',
      'a basic approach',
      'Bearer token-based-authentication-scheme',
      'the bearer authorization header',
    ]) {
      expect(red.redactString(text)).toBe(text);
    }
  });

  it('redacts before cutting: a credential straddling the cap never survives in part', () => {
    const cut = createSanitizer({ maxStringLength: 1000 }, createRedactor({ env: {} }));
    const tail = ' postgres://admin:PgPassw0rdSECRETvalue1234567890@db.internal:5432/app';
    const input = 'x'.repeat(960) + tail;
    const out = cut(input) as string;
    expect(out).not.toContain('PgPassw0rd');
    expect(out).not.toContain('admin');
    const redacted = `${'x'.repeat(960)} postgres://[REDACTED]@db.internal:5432/app`;
    // N counts from the original length: 1031 - 1000 kept
    expect(out).toBe(`${redacted.slice(0, 1000)}…[truncated ${input.length - 1000} chars]`);

    // redaction made it short enough: kept whole, no truncation marker
    const shrinks = `${'x'.repeat(900)} postgres://admin:${'P'.repeat(200)}@db/app`;
    expect(cut(shrinks)).toBe(`${'x'.repeat(900)} postgres://[REDACTED]@db/app`);

    // still over the cap after redaction: cut, and N = original length - kept length
    const long = 'x'.repeat(990) + tail + 'y'.repeat(50_000);
    const longOut = cut(long) as string;
    expect(longOut).not.toContain('PgPassw0rd');
    const kept = `${'x'.repeat(990)} postgres:`;
    expect(longOut).toBe(`${kept}…[truncated ${long.length - kept.length} chars]`);

    // a bearer token across the cut
    const bearer = `${'z'.repeat(990)} Bearer eyJhbGciOiJIUzI1NiJ9.payloadSECRET.sig${'q'.repeat(5000)}`;
    const bearerOut = cut(bearer) as string;
    expect(bearerOut).not.toContain('eyJhb');
    expect(bearerOut).toMatch(/…\[truncated \d+ chars\]$/);
  });

  it('cutting still never splits a surrogate pair and counts from the original length', () => {
    const cut = createSanitizer({ maxStringLength: 5 }, createRedactor({ env: {} }));
    expect(cut('abcd😀efgh')).toBe('abcd…[truncated 6 chars]');
    const big = 'a'.repeat(100_000);
    expect(cut(big)).toBe(`aaaaa…[truncated ${100_000 - 5} chars]`);
  });
});

describe('cutting is idempotent (a replay keeps the original text and marker)', () => {
  it('truncate() leaves a string it cut before as it is', () => {
    const once = truncate('x'.repeat(1000), 100);
    expect(once).toBe(`${'x'.repeat(100)}…[truncated 900 chars]`);
    expect(truncate(once, 100)).toBe(once);
    // A marker further in than the cap is text like any other: cut again.
    expect(truncate(`${'y'.repeat(200)}…[truncated 5 chars]`, 100)).toBe(
      `${'y'.repeat(100)}…[truncated 120 chars]`,
    );
  });

  it('the sanitizer keeps a cut field as it was when it sees it again (no second marker)', () => {
    const sanitize = createSanitizer({ maxStringLength: 1000 });
    const first = sanitize({ code: 'a'.repeat(5000) }) as { code: string };
    expect(first.code).toBe(`${'a'.repeat(1000)}…[truncated 4000 chars]`);
    const again = sanitize({ code: first.code }) as { code: string };
    expect(again.code).toBe(first.code);
  });
});

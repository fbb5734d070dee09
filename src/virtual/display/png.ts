/**
 * PNG encoding (RFC 2083 / ISO 15948): signature, IHDR, one IDAT with the zlib-deflated scanlines,
 * IEND; every chunk with its CRC-32. The caller hands over scanlines that already carry their
 * filter byte (0 = None), which is how the renderer lays out its framebuffer.
 */
import { deflateSync, constants as zc } from 'node:zlib';

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG colour types used here. */
export const COLOR_RGB = 2;
export const COLOR_RGBA = 6;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, reflected 0xEDB88320); `crc` continues a previous value. */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

export interface PngImage {
  width: number;
  height: number;
  /** COLOR_RGB (3 bytes/pixel) or COLOR_RGBA (4). */
  colorType: typeof COLOR_RGB | typeof COLOR_RGBA;
  /** height scanlines of 1 filter byte + width * bpp bytes. */
  scanlines: Buffer;
}

export function bytesPerPixel(colorType: number): number {
  return colorType === COLOR_RGBA ? 4 : 3;
}

/** Encodes filtered scanlines as a PNG file. `level` is the zlib level (1 = fast, the default). */
export function encodePng(img: PngImage, level = 1): Buffer {
  const bpp = bytesPerPixel(img.colorType);
  const expected = img.height * (1 + img.width * bpp);
  if (img.scanlines.length !== expected) {
    throw new Error(`encodePng: ${img.scanlines.length} bytes of scanlines, expected ${expected}`);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(img.width, 0);
  ihdr.writeUInt32BE(img.height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = img.colorType;
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method 0
  ihdr[12] = 0; // no interlace
  const idat = deflateSync(img.scanlines, { level, strategy: zc.Z_DEFAULT_STRATEGY });
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

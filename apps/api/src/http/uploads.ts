/**
 * `PUT /uploads/{token}`: the upload URL the API hands out when storage has no presigned URLs
 * (file storage). The body is read up to MAX_IMAGE_BYTES and written as one object.
 */
import type { ObjectStorage } from '@blip-jobs/shared/storage';
import type { Request, RequestHandler } from 'express';
import type { Uploads } from '../services/uploads.js';

class TooLarge extends Error {}

/** The request body, or TooLarge as soon as it passes `max` bytes. */
async function readBody(req: Request, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new TooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

export function uploadPutHandler(uploads: Uploads, storage: ObjectStorage): RequestHandler<{ token: string }> {
  return async (req, res) => {
    const key = uploads.verify(req.params.token);
    if (!key) {
      res.status(403).json({ error: 'this upload URL is invalid or has expired: ask uploads.create for a new one' });
      return;
    }
    const tooLarge = () => {
      // Stop reading: the connection closes once the answer is out.
      res.set('Connection', 'close').status(413).json({ error: `an image may have at most ${uploads.maxBytes} bytes` });
    };
    if (Number(req.headers['content-length'] ?? 0) > uploads.maxBytes) return tooLarge();
    let body: Buffer;
    try {
      body = await readBody(req, uploads.maxBytes);
    } catch (err) {
      if (err instanceof TooLarge) return tooLarge();
      throw err;
    }
    if (body.length === 0) {
      res.status(400).json({ error: 'the body is empty: PUT the image bytes' });
      return;
    }
    await storage.put(key, body, req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {});
    res.status(200).json({ uploadId: `upload:${key}`, size: body.length });
  };
}

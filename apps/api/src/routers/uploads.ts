import { z } from 'zod';
import { limitedProcedure, router } from '../trpc.js';

export const uploadsRouter = router({
  /**
   * A URL to PUT one image to, and the `upload:` id to submit it under. `bytes`, when given, is
   * checked against MAX_IMAGE_BYTES up front; `contentType` must be an image type.
   */
  create: limitedProcedure
    .input(
      z
        .object({
          contentType: z.string().regex(/^image\/[\w.+-]+$/i, 'contentType must be an image type such as image/png').optional(),
          bytes: z.number().int().min(1, 'bytes must be positive').optional(),
        })
        .strict()
        .prefault({}),
    )
    .mutation(({ ctx, input }) => ctx.services.uploads.create(ctx.tenant, ctx.baseUrl, input.bytes)),
});

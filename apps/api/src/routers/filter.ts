import { FilterItemSchema, FilterOptionsSchema } from '@blip-jobs/shared';
import { limitedProcedure, router } from '../trpc.js';
import { ImageInput, submit, submitInput } from './submit.js';

/** Items `{ image, text }` scored by ITM and ITC; options: the keep threshold on the ITM probability. */
const FilterSubmitInput = submitInput(FilterItemSchema.extend({ image: ImageInput }), FilterOptionsSchema.prefault({}));

export const filterRouter = router({
  submit: limitedProcedure.input(FilterSubmitInput).mutation(({ ctx, input }) => submit(ctx, { task: 'filter', ...input })),
});

/**
 * What the review viewer's kernel side sends it (schema/review-messages.schema.json, which the
 * kernel checks the other way): replies to its requests, and tracking's tables grown at each
 * checkpoint.
 */

import reviewSchema from '../../../schema/review-messages.schema.json';
import type { IReply } from '../../comm-requests';
import { messageCheck } from '../../contracts';
import type { ITablesGrowth } from './tables';

export type FromKernel = IReply | ({ type: 'grow' } & ITablesGrowth);

/** The message, if it keeps the contract; else an error saying how it breaks it. */
export const checkFromKernel = messageCheck<FromKernel>(reviewSchema, 'toBrowser');

import { create as contentDisposition } from 'content-disposition';
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { AppError, NotFoundError, ValidationError } from '../../http/errors.js';
import { digitInputPng } from '../../ml/index.js';
import { sendImage } from '../images/index.js';
import { scopeOf } from './digits.api.js';
import { correctionFormSchema, exportQuerySchema, historyQuerySchema, type FilterQuery } from './digits.schemas.js';
import { field, idOf, jsonForHtml, selectedIds, wantsJson } from './page-input.js';
import type { DigitsService } from './digits.service.js';
import { PREDICTION_SOURCES } from './predictions.repo.js';
import { toPredictionJson } from './prediction-json.js';

const format = { percent: (value: number) => `${(value * 100).toFixed(1)}%` };
const DEFAULT_DATASET_NAME = 'Digit corrections';
const sourceLabels = { drawing: 'Drawn', upload: 'Uploaded', api: 'API', library: 'Image library' };

/** Where to go back to after a form on several pages: one of our own digit pages, never another site. */
function backTo(req: Request, fallback: string): string {
  const next = field(req, 'next');
  return typeof next === 'string' && /^\/digits(\/[\w/-]*)?(\?[\w=&%.:-]*)?(#[\w-]+)?$/.test(next) ? next : fallback;
}

/** The filters as query parameters, for links that keep them (pages, exports). */
function filterQuery(query: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(query).filter(([, value]) => typeof value === 'string' && value !== '') as [string, string][]);
}

/** History, one prediction, corrections, deletion, exports and analytics. */
export function createHistoryWebRouter({ digits }: { digits: DigitsService }): Router {
  const router = Router();

  router.get('/digits/history', async (req, res) => {
    const parsed = historyQuerySchema.safeParse(req.query);
    const notices = parsed.success ? [] : parsed.error.issues.map((issue) => `${String(issue.path[0])}: ${issue.message}. That filter was left out.`);
    const { page, per_page: perPage, ...filter } = parsed.success ? parsed.data : historyQuerySchema.parse({});
    const list = await digits.list(req.user!.id, parsed.success ? filter : ({} as FilterQuery), page, perPage);
    const query = parsed.success ? filterQuery(req.query as Record<string, unknown>) : {};
    delete query.page;
    res.render('digits/history', {
      title: 'Digit history',
      section: 'history',
      ...list,
      notices,
      query,
      sources: PREDICTION_SOURCES,
      sourceLabels,
      format,
      keepImages: digits.keepsImages(req.user!.id),
      link: (changes: Record<string, string | number>) => `/digits/history?${new URLSearchParams({ ...query, ...Object.fromEntries(Object.entries(changes).map(([k, v]) => [k, String(v)])) }).toString()}`,
      scripts: ['/js/images-gallery.js'],
    });
  });

  router.get('/digits/predictions/:id', async (req, res) => {
    const prediction = await digits.get(req.user!.id, idOf(req.params.id));
    res.render('digits/show', { title: `Prediction ${prediction.id}`, section: 'history', prediction, sourceLabels, format, scripts: ['/js/digits-correction.js'] });
  });

  router.get('/digits/predictions/:id/image', async (req, res) => sendImage(req, res, await digits.openImage(req.user!.id, idOf(req.params.id), 'original')));
  router.get('/digits/predictions/:id/thumbnail', async (req, res) => sendImage(req, res, await digits.openImage(req.user!.id, idOf(req.params.id), 'thumbnail')));

  /** The 28x28 input the model saw, read again from the kept image (only the image is stored). */
  router.get('/digits/predictions/:id/input.png', async (req, res) => {
    const input = await digits.inputOf(req.user!.id, idOf(req.params.id));
    if (!input) throw new NotFoundError('This prediction has no stored image to read again.');
    res.set({ 'Content-Type': 'image/png', 'Cache-Control': 'private, max-age=3600', 'X-Content-Type-Options': 'nosniff' }).send(digitInputPng(input));
  });

  /** A correction from a form or a page script: label 0-9 or "none" (not a digit); `remove` takes the correction back. */
  router.post('/digits/predictions/:id/correction', async (req, res) => {
    const id = idOf(req.params.id);
    let prediction;
    if (field(req, 'remove')) {
      prediction = await digits.removeCorrection(req.user!.id, id);
    } else {
      const parsed = correctionFormSchema.safeParse(req.body);
      if (!parsed.success) throw new ValidationError('Choose a digit, or "not a digit".', { label: 'Choose a digit, or "not a digit".' });
      prediction = await digits.correct(req.user!.id, id, parsed.data.label);
    }
    if (wantsJson(req)) return res.json(toPredictionJson(prediction));
    const label = prediction.correction?.label;
    req.flash('success', !prediction.correction ? 'The correction was removed.' : label === null ? 'Marked as not a digit.' : label === prediction.digit ? `Confirmed: ${label}.` : `Corrected to ${label}.`);
    res.redirect(backTo(req, `/digits/predictions/${id}`));
  });

  router.get('/digits/history/delete', async (req, res) => {
    const selected = await digits.getMany(req.user!.id, selectedIds(req.query.ids));
    res.render('digits/delete', { title: selected.length === 1 ? 'Delete this prediction?' : `Delete ${selected.length} predictions?`, section: 'history', selected, all: false, format });
  });

  router.post('/digits/history/delete', async (req, res) => {
    const count = await digits.remove(req.user!.id, selectedIds(field(req, 'ids')));
    req.flash('success', count === 1 ? 'The prediction has been deleted.' : `${count} predictions have been deleted.`);
    res.redirect('/digits/history');
  });

  router.get('/digits/history/delete-all', async (req, res) => {
    const { total } = await digits.list(req.user!.id, {}, 1, 1);
    res.render('digits/delete', { title: 'Delete your whole history?', section: 'history', selected: [], all: true, total, format });
  });

  router.post('/digits/history/delete-all', async (req, res) => {
    const count = await digits.removeAll(req.user!.id);
    req.flash('success', count === 1 ? 'Your one prediction has been deleted.' : `All ${count} predictions have been deleted.`);
    res.redirect('/digits/history');
  });

  router.get('/digits/export', async (req, res) => {
    const parsed = exportQuerySchema.safeParse(req.query);
    if (!parsed.success) throw new ValidationError(parsed.error.issues[0]!.message);
    const { format: type, ...filter } = parsed.data;
    const stream = await digits.export(req.user!.id, filter, type);
    const name = `digit-predictions-${new Date().toISOString().slice(0, 10)}.${type}`;
    res.set({ 'Content-Type': type === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8', 'Content-Disposition': contentDisposition(name), 'Cache-Control': 'private, no-store' });
    await pipeline(stream, res).catch((err: unknown) => res.destroy(err as Error));
  });

  router.get('/digits/export/corrected.zip', async (req, res) => {
    const archive = await digits.correctedImages(req.user!.id);
    const name = `digits-dataset-${new Date().toISOString().slice(0, 10)}.zip`;
    res.set({ 'Content-Type': 'application/zip', 'Content-Disposition': contentDisposition(name), 'Cache-Control': 'private, no-store' });
    await pipeline(archive, res).catch((err: unknown) => res.destroy(err as Error));
  });

  // One action puts the corrected images into a dataset (labels 0-9) of the dataset builder; again later, only the new ones.
  router.post('/digits/export/dataset', async (req, res) => {
    const posted = field(req, 'name');
    const name = (typeof posted === 'string' ? posted.trim() : '') || DEFAULT_DATASET_NAME;
    try {
      const { dataset, added, duplicates, withoutImage } = await digits.correctionsToDataset(req.user!.id, name);
      const already = duplicates ? ` ${duplicates} were already there.` : '';
      const noImage = withoutImage ? ` ${withoutImage} corrected prediction${withoutImage === 1 ? ' has' : 's have'} no image kept, so ${withoutImage === 1 ? 'it was' : 'they were'} left out.` : '';
      req.flash('success', `${added} corrected image${added === 1 ? '' : 's'} added to the dataset “${dataset.name}”.${already}${noImage}`);
      res.redirect(`/datasets/${dataset.id}`);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      req.flash('error', err.message);
      res.redirect('/digits/history#download');
    }
  });

  router.get('/digits/analytics', async (req, res) => {
    const scope = req.query.scope === 'all' ? 'all' : 'mine';
    const stats = await digits.stats(scopeOf(req.user!, scope));
    renderAnalytics(req, res, stats);
  });

  function renderAnalytics(req: Request, res: Response, stats: Awaited<ReturnType<DigitsService['stats']>>) {
    const chart = {
      days: stats.perDay.map((row) => row.day.slice(5)),
      predictions: stats.perDay.map((row) => row.n),
      reviewed: stats.perDay.map((row) => row.reviewed),
      confidence: { labels: stats.confidence.map((bin) => `${bin.from.toFixed(1)}–${bin.to.toFixed(1)}`), predictions: stats.confidence.map((bin) => bin.n), right: stats.confidence.map((bin) => bin.right), wrong: stats.confidence.map((bin) => bin.wrong) },
      perDigit: stats.perDigit.map((row) => row.rate),
    };
    res.render('digits/analytics', {
      title: 'Digit analytics',
      section: 'analytics',
      stats,
      isAdmin: req.user!.role === 'admin',
      format,
      sourceLabels,
      chartJson: jsonForHtml(chart),
      scripts: ['/vendor/chart.js/chart.umd.min.js', '/js/digits-analytics.js'],
    });
  }

  return router;
}

import { Router } from 'express';

export function createHomeRouter(): Router {
  const router = Router();
  router.get('/', (_req, res) => {
    res.render('home/index', { title: 'Inkwell' });
  });
  return router;
}

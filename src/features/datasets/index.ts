/**
 * Datasets: named sets of labelled images (upload, rapid camera capture, the library), exported as an
 * ImageFolder zip with splits and a manifest, and imported from one. Other features use this index only: a
 * feature that has stored images (digit corrections) puts them into a dataset with `ensureDataset` and
 * `addStoredImages`, which take the images by reference, a batch at a time.
 */
export { createDatasetsService, NameTakenError, type DatasetDetails, type DatasetsService } from './datasets.service.js';
export type { StoredImageToAdd } from './dataset-images.service.js';
export { createDatasetsWebRouters } from './datasets.web.js';
export { declareDatasetsApi } from './datasets.api.js';
export { createLabelledImagesReader, type LabelledImagesReader, type LabelledImage, type LabelCount } from './dataset-labelled-images.js';

//! Config operations of [`AdminClient`]: describe, incremental alter, legacy alter.
//!
//! Owns: the DescribeConfigs, IncrementalAlterConfigs and AlterConfigs requests, and sending
//! broker resources to the named broker. Must not touch: retry policy (in `mod.rs`).

use super::*;

impl AdminClient {
    /// Splits config resources by the broker that must answer for them: broker resources go
    /// to that broker, topic resources to any broker (`None`).
    pub(super) fn config_targets(
        pending: Vec<ConfigResource>,
    ) -> BTreeMap<Option<i32>, Vec<ConfigResource>> {
        let mut targets: BTreeMap<Option<i32>, Vec<ConfigResource>> = BTreeMap::new();
        for r in pending {
            let target = match &r {
                ConfigResource::Broker(id) => Some(*id),
                ConfigResource::Topic(_) => None,
            };
            targets.entry(target).or_default().push(r);
        }
        targets
    }

    async fn config_conn(&self, target: Option<i32>) -> Result<Arc<Connection>, AdminError> {
        match target {
            Some(id) => self.broker(id).await,
            None => Ok(self.pool.any().await?.1),
        }
    }

    /// Records one (Incremental)AlterConfigs answer: every resource sent starts as missing,
    /// then each answered one gets its error or success. Answers are (resource type, name,
    /// error code, error message).
    fn record_alter_answers<'a>(
        results: &mut ItemResults<ConfigResource, ()>,
        sent: &[ConfigResource],
        answers: impl Iterator<Item = (i8, &'a str, i16, Option<&'a StrBytes>)>,
    ) {
        for r in sent {
            results.insert(r.clone(), Err(missing(r)));
        }
        for (resource_type, name, code, message) in answers {
            let Some(resource) = Self::resource_of(resource_type, name) else {
                continue;
            };
            if let Some(slot) = results.get_mut(&resource) {
                *slot = match AdminError::from_response(code, message) {
                    Some(e) => Err(e),
                    None => Ok(()),
                };
            }
        }
    }

    pub(super) fn resource_of(resource_type: i8, name: &str) -> Option<ConfigResource> {
        match resource_type {
            2 => Some(ConfigResource::Topic(name.to_owned())),
            4 => name.parse().ok().map(ConfigResource::Broker),
            _ => None,
        }
    }

    /// Every config entry of each resource (DescribeConfigs), with its source and flags.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// use kafkit::admin::ConfigResource;
    /// let topic = ConfigResource::Topic("events".into());
    /// let configs = admin.describe_configs(vec![topic.clone()], Default::default()).await?;
    /// for entry in configs[&topic].clone()? {
    ///     println!("{} = {:?} ({:?})", entry.name, entry.value, entry.source);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn describe_configs(
        &self,
        resources: Vec<ConfigResource>,
        opts: AdminOptions,
    ) -> Result<ItemResults<ConfigResource, Vec<ConfigEntry>>, AdminError> {
        self.retry_items(
            self.timeout(&opts),
            resources,
            retriable_topic_error,
            |pending, _| async move {
                let mut results: ItemResults<ConfigResource, Vec<ConfigEntry>> = BTreeMap::new();
                for (target, resources) in Self::config_targets(pending) {
                    let outcome: Result<(), AdminError> = async {
                        let conn = self.config_conn(target).await?;
                        let version = conn.versions().version(ApiKey::DescribeConfigs)?;
                        let request = DescribeConfigsRequest::default().with_resources(
                            resources
                                .iter()
                                .map(|r| {
                                    DescribeConfigsResource::default()
                                        .with_resource_type(r.resource_type())
                                        .with_resource_name(s(&r.resource_name()))
                                        .with_configuration_keys(None)
                                })
                                .collect(),
                        );
                        let response = conn.send_with_version(request, version).await?;
                        for r in &resources {
                            results.insert(r.clone(), Err(missing(r)));
                        }
                        for result in response.results {
                            let Some(resource) =
                                Self::resource_of(result.resource_type, &result.resource_name)
                            else {
                                continue;
                            };
                            let Some(slot) = results.get_mut(&resource) else {
                                continue;
                            };
                            *slot = match AdminError::from_response(
                                result.error_code,
                                result.error_message.as_ref(),
                            ) {
                                Some(e) => Err(e),
                                None => Ok(result
                                    .configs
                                    .iter()
                                    .map(|c| ConfigEntry {
                                        name: c.name.to_string(),
                                        value: c.value.as_ref().map(|v| v.to_string()),
                                        source: ConfigSource::from_code(c.config_source),
                                        read_only: c.read_only,
                                        sensitive: c.is_sensitive,
                                    })
                                    .collect()),
                            };
                        }
                        Ok(())
                    }
                    .await;
                    fail_group(&mut results, resources, outcome);
                }
                Ok(results)
            },
        )
        .await
    }

    /// Changes configs one key at a time (IncrementalAlterConfigs, KIP-339): set, delete
    /// (revert to default), append to or subtract from a list. Keys not named are untouched.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// use std::collections::BTreeMap;
    /// use kafkit::admin::{AlterConfigOp, ConfigResource};
    /// let topic = ConfigResource::Topic("events".into());
    /// let results = admin
    ///     .incremental_alter_configs(
    ///         BTreeMap::from([(topic.clone(), vec![AlterConfigOp::set("retention.ms", "600000")])]),
    ///         Default::default(),
    ///     )
    ///     .await?;
    /// results[&topic].clone()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn incremental_alter_configs(
        &self,
        changes: BTreeMap<ConfigResource, Vec<AlterConfigOp>>,
        opts: AdminOptions,
    ) -> Result<ItemResults<ConfigResource, ()>, AdminError> {
        use kafka_protocol::messages::incremental_alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        let changes = &changes;
        self.retry_items(
            self.timeout(&opts),
            changes.keys().cloned(),
            retriable_topic_error,
            |pending, _| async move {
                let mut results: ItemResults<ConfigResource, ()> = BTreeMap::new();
                for (target, resources) in Self::config_targets(pending) {
                    let outcome: Result<(), AdminError> = async {
                        let conn = self.config_conn(target).await?;
                        let version = conn.versions().version(ApiKey::IncrementalAlterConfigs)?;
                        let request = IncrementalAlterConfigsRequest::default()
                            .with_validate_only(opts.validate_only)
                            .with_resources(
                                resources
                                    .iter()
                                    .map(|r| {
                                        AlterConfigsResource::default()
                                            .with_resource_type(r.resource_type())
                                            .with_resource_name(s(&r.resource_name()))
                                            .with_configs(
                                                changes[r]
                                                    .iter()
                                                    .map(|op| {
                                                        AlterableConfig::default()
                                                            .with_name(s(&op.name))
                                                            .with_config_operation(op.op as i8)
                                                            .with_value(op.value.as_deref().map(s))
                                                    })
                                                    .collect(),
                                            )
                                    })
                                    .collect(),
                            );
                        let response = conn.send_with_version(request, version).await?;
                        Self::record_alter_answers(
                            &mut results,
                            &resources,
                            response.responses.iter().map(|r| {
                                (
                                    r.resource_type,
                                    r.resource_name.as_str(),
                                    r.error_code,
                                    r.error_message.as_ref(),
                                )
                            }),
                        );
                        Ok(())
                    }
                    .await;
                    fail_group(&mut results, resources, outcome);
                }
                Ok(results)
            },
        )
        .await
    }

    /// Replaces resources' whole dynamic configs (the legacy AlterConfigs): keys not given
    /// revert to their defaults. Prefer [`Self::incremental_alter_configs`].
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// use std::collections::BTreeMap;
    /// use kafkit::admin::ConfigResource;
    /// let topic = ConfigResource::Topic("events".into());
    /// let configs = BTreeMap::from([("retention.ms".to_string(), "600000".to_string())]);
    /// let results = admin.alter_configs(BTreeMap::from([(topic.clone(), configs)]), Default::default()).await?;
    /// results[&topic].clone()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn alter_configs(
        &self,
        configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
        opts: AdminOptions,
    ) -> Result<ItemResults<ConfigResource, ()>, AdminError> {
        use kafka_protocol::messages::alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        let configs = &configs;
        self.retry_items(
            self.timeout(&opts),
            configs.keys().cloned(),
            retriable_topic_error,
            |pending, _| async move {
                let mut results: ItemResults<ConfigResource, ()> = BTreeMap::new();
                for (target, resources) in Self::config_targets(pending) {
                    let outcome: Result<(), AdminError> = async {
                        let conn = self.config_conn(target).await?;
                        let version = conn.versions().version(ApiKey::AlterConfigs)?;
                        let request = AlterConfigsRequest::default()
                            .with_validate_only(opts.validate_only)
                            .with_resources(
                                resources
                                    .iter()
                                    .map(|r| {
                                        AlterConfigsResource::default()
                                            .with_resource_type(r.resource_type())
                                            .with_resource_name(s(&r.resource_name()))
                                            .with_configs(
                                                configs[r]
                                                    .iter()
                                                    .map(|(k, v)| {
                                                        AlterableConfig::default()
                                                            .with_name(s(k))
                                                            .with_value(Some(s(v)))
                                                    })
                                                    .collect(),
                                            )
                                    })
                                    .collect(),
                            );
                        let response = conn.send_with_version(request, version).await?;
                        Self::record_alter_answers(
                            &mut results,
                            &resources,
                            response.responses.iter().map(|r| {
                                (
                                    r.resource_type,
                                    r.resource_name.as_str(),
                                    r.error_code,
                                    r.error_message.as_ref(),
                                )
                            }),
                        );
                        Ok(())
                    }
                    .await;
                    fail_group(&mut results, resources, outcome);
                }
                Ok(results)
            },
        )
        .await
    }
}

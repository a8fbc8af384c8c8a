//! Consumer group operations of [`AdminClient`]: list, describe, delete, committed offsets, lag.
//!
//! Owns: the ListGroups, DescribeGroups, DeleteGroups and OffsetFetch requests (to each
//! group's coordinator). Must not touch: group membership (`crate::consumer::group`).

use super::*;

impl AdminClient {
    /// Every group on every broker (ListGroups to each), sorted by group id.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// for group in admin.list_groups(Default::default()).await? {
    ///     println!("{} ({}) {:?}", group.group_id, group.protocol_type, group.state);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_groups(&self, opts: AdminOptions) -> Result<Vec<GroupListing>, AdminError> {
        self.retry(self.timeout(&opts), |_| async {
            let snapshot = self.cluster_snapshot().await?;
            let mut groups = Vec::new();
            for &broker in snapshot.brokers.keys() {
                let conn = self.pool.get(broker).await?;
                let version = conn.versions().version(ApiKey::ListGroups)?;
                let response = conn
                    .send_with_version(ListGroupsRequest::default(), version)
                    .await?;
                if let Some(e) = AdminError::from_response(response.error_code, None::<&String>) {
                    return Err(e);
                }
                groups.extend(response.groups.iter().map(|g| GroupListing {
                    group_id: g.group_id.0.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    state: (version >= 4).then(|| g.group_state.to_string()),
                    coordinator: broker,
                }));
            }
            groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            Ok(groups)
        })
        .await
    }

    /// Groups' state, protocol and members with their decoded assignments (DescribeGroups,
    /// one request per coordinator). A group that does not exist is reported in state `Dead`
    /// (or with `GROUP_ID_NOT_FOUND` by newer brokers).
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// let groups = admin.describe_groups(&["billing"], Default::default()).await?;
    /// let billing = groups["billing"].clone()?;
    /// for m in &billing.members {
    ///     println!("{} on {}: {:?}", m.member_id, m.host, m.assignment);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn describe_groups(
        &self,
        group_ids: &[&str],
        opts: AdminOptions,
    ) -> Result<ItemResults<String, GroupDescription>, AdminError> {
        self.retry_items(
            self.timeout(&opts),
            group_ids.iter().map(|g| g.to_string()),
            AdminError::is_retriable,
            |pending, _| async move {
                let (coordinators, mut results) = self.by_coordinator(pending).await;
                for (coordinator, (conn, groups)) in coordinators {
                    let outcome = self
                        .describe_on(coordinator, &conn, &groups, &mut results)
                        .await;
                    fail_group(&mut results, groups, outcome);
                }
                Ok(results)
            },
        )
        .await
    }

    /// Finds each group's coordinator: groups by coordinator id (with its connection), and the
    /// groups whose coordinator could not be found, with why.
    async fn by_coordinator<T>(
        &self,
        groups: Vec<String>,
    ) -> (
        BTreeMap<i32, (Arc<Connection>, Vec<String>)>,
        ItemResults<String, T>,
    ) {
        let mut coordinators: BTreeMap<i32, (Arc<Connection>, Vec<String>)> = BTreeMap::new();
        let mut failed = BTreeMap::new();
        for group in groups {
            match self.coordinator(&group).await {
                Ok((id, conn)) => coordinators
                    .entry(id)
                    .or_insert((conn, Vec::new()))
                    .1
                    .push(group),
                Err(e) => {
                    failed.insert(group, Err(e));
                }
            }
        }
        (coordinators, failed)
    }

    /// One DescribeGroups request for `groups` to their coordinator.
    async fn describe_on(
        &self,
        coordinator: i32,
        conn: &Connection,
        groups: &[String],
        results: &mut ItemResults<String, GroupDescription>,
    ) -> Result<(), AdminError> {
        let version = conn.versions().version(ApiKey::DescribeGroups)?;
        let request = DescribeGroupsRequest::default()
            .with_groups(groups.iter().map(|g| GroupId(s(g))).collect());
        let response = conn.send_with_version(request, version).await?;
        for group in groups {
            results.insert(group.clone(), Err(missing(format!("group '{group}'"))));
        }
        for described in response.groups {
            let group = described.group_id.0.to_string();
            if let Some(slot) = results.get_mut(&group) {
                *slot = Self::group_description(coordinator, described);
            }
        }
        Ok(())
    }

    fn group_description(
        coordinator: i32,
        described: kafka_protocol::messages::describe_groups_response::DescribedGroup,
    ) -> Result<GroupDescription, AdminError> {
        if let Some(e) =
            AdminError::from_response(described.error_code, described.error_message.as_ref())
        {
            return Err(e);
        }
        let consumer =
            described.protocol_type.as_str() == crate::consumer::group::CONSUMER_PROTOCOL_TYPE;
        let mut members = Vec::with_capacity(described.members.len());
        for m in &described.members {
            let assignment = if consumer && !m.member_assignment.is_empty() {
                Some(decode_assignment(&m.member_assignment)?)
            } else {
                None
            };
            members.push(MemberDescription {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment,
            });
        }
        Ok(GroupDescription {
            group_id: described.group_id.0.to_string(),
            state: described.group_state.to_string(),
            protocol_type: described.protocol_type.to_string(),
            protocol: described.protocol_data.to_string(),
            members,
            coordinator,
        })
    }

    /// Deletes groups with no members (DeleteGroups, one request per coordinator):
    /// `NON_EMPTY_GROUP` while members remain, `GROUP_ID_NOT_FOUND` for an unknown group.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// let results = admin.delete_groups(&["old-group"], Default::default()).await?;
    /// results["old-group"].clone()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_groups(
        &self,
        group_ids: &[&str],
        opts: AdminOptions,
    ) -> Result<ItemResults<String, ()>, AdminError> {
        self.retry_items(
            self.timeout(&opts),
            group_ids.iter().map(|g| g.to_string()),
            AdminError::is_retriable,
            |pending, _| async move {
                let (coordinators, mut results) = self.by_coordinator(pending).await;
                for (_, (conn, groups)) in coordinators {
                    let outcome: Result<(), AdminError> = async {
                        let version = conn.versions().version(ApiKey::DeleteGroups)?;
                        let request = DeleteGroupsRequest::default()
                            .with_groups_names(groups.iter().map(|g| GroupId(s(g))).collect());
                        let response = conn.send_with_version(request, version).await?;
                        for group in &groups {
                            results.insert(group.clone(), Err(missing(format!("group '{group}'"))));
                        }
                        for r in response.results {
                            if let Some(slot) = results.get_mut(r.group_id.0.as_str()) {
                                *slot = match AdminError::from_response(
                                    r.error_code,
                                    None::<&String>,
                                ) {
                                    Some(e) => Err(e),
                                    None => Ok(()),
                                };
                            }
                        }
                        Ok(())
                    }
                    .await;
                    fail_group(&mut results, groups, outcome);
                }
                Ok(results)
            },
        )
        .await
    }

    /// A group's committed offsets (OffsetFetch for all its partitions, sent to its
    /// coordinator). Partitions without a commit are left out.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// for (tp, committed) in admin.list_group_offsets("billing", Default::default()).await? {
    ///     println!("{tp}: {}", committed.offset);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_group_offsets(
        &self,
        group: &str,
        opts: AdminOptions,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, AdminError> {
        self.retry(self.timeout(&opts), |_| self.fetch_group_offsets(group))
            .await
    }

    async fn fetch_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>, AdminError> {
        let (_, conn) = self.coordinator(group).await?;
        let version = conn.versions().version(ApiKey::OffsetFetch)?;
        if version < 2 {
            return Err(AdminError::broker(
                ErrorCode::UnsupportedVersion,
                Some("fetching all of a group's offsets needs OffsetFetch v2+".into()),
            ));
        }
        let mut request = OffsetFetchRequest::default();
        if version >= 8 {
            request.groups = vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(group)))
                    .with_topics(None),
            ];
        } else {
            request.group_id = GroupId(s(group));
            request.topics = None;
        }
        let response = conn.send_with_version(request, version).await?;
        let (group_error, rows) = offset_fetch_partitions(&response, version, group)
            .ok_or_else(|| missing(format!("group '{group}'")))?;
        if let Some(e) = AdminError::from_response(group_error, None::<&String>) {
            return Err(e);
        }
        let mut offsets = BTreeMap::new();
        for p in rows {
            if let Some(e) = AdminError::from_response(p.error_code, None::<&String>) {
                return Err(e);
            }
            if p.offset < 0 {
                continue;
            }
            offsets.insert(
                TopicPartition::new(p.topic, p.partition),
                OffsetAndMetadata {
                    offset: p.offset,
                    leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                    metadata: p.metadata.unwrap_or_default(),
                },
            );
        }
        Ok(offsets)
    }

    /// A group's lag per partition: its committed offset against the partition's log end
    /// offset (OffsetFetch, then ListOffsets latest), both within one timeout.
    ///
    /// ```no_run
    /// # async fn example(admin: kafkit::admin::AdminClient) -> Result<(), kafkit::admin::AdminError> {
    /// let total: i64 = admin.group_lag("billing", Default::default()).await?.values().map(|l| l.lag).sum();
    /// println!("billing is {total} records behind");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn group_lag(
        &self,
        group: &str,
        opts: AdminOptions,
    ) -> Result<BTreeMap<TopicPartition, PartitionLag>, AdminError> {
        let timeout = self.timeout(&opts);
        let started = Instant::now();
        let committed = self.list_group_offsets(group, opts).await?;
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(AdminError::Timeout(timeout));
        }
        let ends = self
            .list_offsets(
                committed
                    .keys()
                    .map(|tp| (tp.clone(), OffsetSpec::Latest))
                    .collect(),
                opts.timeout(left),
            )
            .await?;
        let mut lag = BTreeMap::new();
        for (tp, end) in ends {
            let end = end?.offset;
            let committed = committed[&tp].offset;
            lag.insert(
                tp,
                PartitionLag {
                    committed,
                    end_offset: end,
                    lag: (end - committed).max(0),
                },
            );
        }
        Ok(lag)
    }
}
